"""What the browser benchmarks share (bench/ui.py, bench/soak.py): a real ``indexlab serve`` (or ``panel serve``
of the builder app) on a free port, headless Chromium pages with the page helpers, the server's RSS and errors.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.common import ROOT

CHROMIUM = os.environ.get("INDEXLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic", "--disable-dev-shm-usage"]
BUILDER_APP = ROOT / "tests" / "browser" / "apps" / "builder_app.py"

# In-page helpers: Panel renders into shadow roots, so look through them.
HELPERS = """
window.__deep = (sel, root = document) => {
  const found = root.querySelector(sel);
  if (found) return found;
  for (const el of root.querySelectorAll('*')) {
    if (el.shadowRoot) { const hit = window.__deep(sel, el.shadowRoot); if (hit) return hit; }
  }
  return null;
};
window.__deepAll = (sel, root = document, out = []) => {
  out.push(...root.querySelectorAll(sel));
  for (const el of root.querySelectorAll('*')) if (el.shadowRoot) window.__deepAll(sel, el.shadowRoot, out);
  return out;
};
window.__text = (sel) => { const el = window.__deep(sel); return el ? el.textContent.trim() : null; };
window.__rows = () => {  // the builder grid's rows (the full app has other grids, in other tabs)
  const grid = window.__deep('.builder-grid');
  return grid && grid.shadowRoot ? [...grid.shadowRoot.querySelectorAll('.tabulator-row')] : [];
};
window.__inner = (host, sel) => { const h = window.__deep(host); return h && h.shadowRoot ? window.__deep(sel, h.shadowRoot) : null; };
"""


class BenchFailure(RuntimeError):
    """The page did not do what it was asked: the numbers would mean nothing."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_mounts_builder() -> bool:
    """Whether the full dashboard already shows the builder (then the bench serves the real app)."""
    app = ROOT / "dashboard" / "views" / "app.py"
    return app.exists() and "BatchRunBuilder" in app.read_text(encoding="utf-8")


def start_server(workdir: Path, catalog: Path, arrow_pool: str | None = None,
                 app: Path | None = None) -> tuple[subprocess.Popen, str, str]:
    """A server subprocess and the page URL; returns (process, page url, which app).

    ``app``: serve this Panel script (``panel serve``) instead; by default the full dashboard when
    it mounts the builder, else the builder alone.
    """
    port = _free_port()
    db = workdir / "bench.duckdb"
    env = {**os.environ, "INDEXLAB_DB": str(db), "INDEXLAB_CATALOG": str(catalog), "INDEXLAB_AUTO_RESUME": "0"}
    if arrow_pool:  # pyarrow reads it when it first allocates
        env["ARROW_DEFAULT_MEMORY_POOL"] = arrow_pool
    if app is None and app_mounts_builder():
        argv = [sys.executable, "-m", "dashboard.cli", "serve", "--db", str(db), "--catalog", str(catalog),
                "--port", str(port)]
        url, probe, which = f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{port}/healthz", "indexlab serve (dashboard/views/app.py)"
    else:
        app = Path(app or BUILDER_APP).resolve()
        panel = shutil.which("panel", path=str(Path(sys.executable).parent)) or "panel"
        argv = [panel, "serve", str(app), "--address", "127.0.0.1", "--port", str(port),
                "--allow-websocket-origin", f"127.0.0.1:{port}",
                # drop a closed page's session within about 2 s (Bokeh's default keeps it 15-30 s), so
                # "one page open" means one session, as for a single analyst
                "--check-unused-sessions", "1000", "--unused-session-lifetime", "1000"]
        url = f"http://127.0.0.1:{port}/{app.stem}"
        probe = f"http://127.0.0.1:{port}/static/js/bokeh.min.js"  # up, without opening a session
        which = (f"panel serve {app.relative_to(ROOT) if app.is_relative_to(ROOT) else app}"
                 + (" (the builder alone)" if app == BUILDER_APP.resolve() else ""))
    log = (workdir / "server.log").open("w")
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchFailure(f"server exited with {proc.returncode}:\n{(workdir / 'server.log').read_text()[-2000:]}")
        try:
            if httpx.get(probe, timeout=2).status_code == 200:
                return proc, url, which
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise BenchFailure("server did not answer within 120 s")


def server_errors(log: str) -> int:
    """Tracebacks in the server's log."""
    return log.count("Traceback (most recent call last)")


def rss_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a process, in MB (MiB)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return {"rss_mb": values["VmRSS"], "peak_rss_mb": values["VmHWM"]}


# --------------------------------------------------------------------------- the page
def new_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    outside: list[str] = []

    def loopback_only(route) -> None:
        if route.request.url.startswith(("http://127.0.0.1", "data:", "blob:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", loopback_only)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.add_init_script(HELPERS)
    return context, page, errors, outside
