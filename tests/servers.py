"""A real ``indexlab serve`` process on 127.0.0.1 for integration and browser tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(db: Path, catalog: Path | None = None, *, log: Path, env: dict[str, str] | None = None,
                 port: int | None = None, args: list[str] | None = None, prefix: list[str] | None = None,
                 wait: bool = True) -> Server:
    """``prefix``: argv run in front of the server (e.g. setpriv, to drop capabilities); ``wait=False``: return
    at once, without waiting for it to answer (it may die while starting, as a crash test wants)."""
    port = port or free_port()
    exe = shutil.which("indexlab", path=str(Path(sys.executable).parent))
    argv = [*(prefix or []), exe, "serve", "--db", str(db), "--port", str(port)]
    if catalog:
        argv += ["--catalog", str(catalog)]
    argv += args or []
    handle = log.open("a")  # a restart on the same log keeps what the killed process wrote
    process = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               env={**os.environ, **(env or {})})
    server = Server(url=f"http://127.0.0.1:{port}", process=process, log=log)

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{server.output()}")
        try:
            return httpx.get(server.url + "/healthz", timeout=2).status_code in (200, 503)  # 503: up, cannot write
        except httpx.HTTPError:
            return False

    if wait:
        wait_until(up, timeout=60, message="server did not answer on /healthz")
    return server


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=15)


def kill_server(server: Server) -> None:
    """SIGKILL: the crash case. The database must recover on the next start."""
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=15)
