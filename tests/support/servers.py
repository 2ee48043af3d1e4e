"""The one server launcher: a real child process on a free 127.0.0.1 port (or the address a test names).

``launch`` starts any argv and, unless told not to wait, polls a URL until the server answers. ``start_server`` runs
``indexlab serve``; ``panel_serve`` runs ``panel serve`` of an app file (with the REST API plugin if asked). Both
return a ``Server``; ``stop_server`` ends it, ``kill_server`` SIGKILLs it (the crash case).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.polling import wait_until

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tool(name: str) -> str:
    """A console script of this virtualenv (``indexlab``, ``panel``)."""
    exe = shutil.which(name, path=str(BIN))
    assert exe, f"{name} is not installed in {BIN}"
    return exe


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def exited_or_answers(self, url: str) -> bool:
        """True once the process has exited or ``url`` answers at all (any status)."""
        if self.process.poll() is not None:
            return True
        try:
            httpx.get(url, timeout=2)
            return True
        except httpx.HTTPError:
            return False

    def stop(self, timeout: float = 15) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)


def launch(argv: list[str], *, url: str, log: Path, env: dict[str, str] | None = None, inherit_env: bool = True,
           cwd: Path | None = None, ready: str | None = "/healthz", ready_statuses: Iterable[int] = (200,),
           timeout: float = 60) -> Server:
    """Start ``argv`` writing to ``log`` (appended: a restart on the same log keeps what the killed process wrote).

    ``env`` is laid over this process's environment (``inherit_env=False``: it is the whole environment).
    ``ready``: a URL (or a path under ``url``) polled until it answers with one of ``ready_statuses``; None: return
    at once, without waiting (the child may exit while starting, as a crash or a refusal test wants).
    """
    environ = {**os.environ, **(env or {})} if inherit_env else dict(env or {})
    handle = log.open("a")
    process = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=environ,
                               cwd=cwd)
    handle.close()  # the child holds its own copy
    server = Server(url=url, process=process, log=log)
    if ready is not None:
        probe = ready if ready.startswith("http") else url + ready
        statuses = set(ready_statuses)

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"{Path(argv[0]).name} exited with {process.returncode}:\n{server.output()}")
            try:
                return httpx.get(probe, timeout=2).status_code in statuses
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=timeout, message=f"{Path(argv[0]).name} did not answer on {probe}")
    return server


def start_server(db: Path, catalog: Path | None = None, *, log: Path, env: dict[str, str] | None = None,
                 port: int | None = None, args: list[str] | None = None, prefix: list[str] | None = None,
                 wait: bool = True) -> Server:
    """``indexlab serve`` on 127.0.0.1. ``prefix``: argv run in front of the server (e.g. setpriv, to drop
    capabilities); ``wait=False``: return at once, without waiting for it to answer."""
    port = port or free_port()
    argv = [*(prefix or []), tool("indexlab"), "serve", "--db", str(db), "--port", str(port)]
    if catalog:
        argv += ["--catalog", str(catalog)]
    argv += args or []
    return launch(argv, url=f"http://127.0.0.1:{port}", log=log, env=env,
                  ready="/healthz" if wait else None, ready_statuses=(200, 503))  # 503: up, cannot write


def panel_serve(app: Path, *, log: Path, env: dict[str, str] | None = None, inherit_env: bool = True,
                port: int | None = None, address: str | None = "127.0.0.1", plugin: bool = False,
                args: Iterable[str] = (), path: str = "", ready: str | None = "/healthz", timeout: float = 60) -> Server:
    """``panel serve app`` (``plugin``: with ``--plugins dashboard.api``) from the repository root.

    ``address`` None leaves Panel's default; on 127.0.0.1 the page's websocket origin is allowed. The Server's url is
    the root plus ``path`` (an app's page); ``ready`` is polled under the root.
    """
    port = port or free_port()
    argv = [tool("panel"), "serve", str(app), *(["--plugins", "dashboard.api"] if plugin else []), "--port", str(port)]
    if address:
        argv += ["--address", address]
    if address == "127.0.0.1":
        argv += ["--allow-websocket-origin", f"127.0.0.1:{port}"]
    argv += list(args)
    root = f"http://{address or '127.0.0.1'}:{port}"
    if inherit_env:
        env = {"PYTHONPATH": str(ROOT), **(env or {})}
    server = launch(argv, url=root, log=log, env=env, inherit_env=inherit_env, cwd=ROOT,
                    ready=root + ready if ready else None, timeout=timeout)
    server.url = root + path
    return server


def stop_server(server: Server) -> None:
    server.stop()


def kill_server(server: Server) -> None:
    """SIGKILL: the crash case. The database must recover on the next start."""
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=15)
