"""One Tornado/Panel server process: the dashboard at ``/`` sharing one store and catalog."""

from __future__ import annotations

import logging
import socket
import warnings
from pathlib import Path

import panel as pn

from dashboard.app import create_app
from dashboard.context import get_context

log = logging.getLogger("indexlab.server")


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def serve(*, db: Path | None, catalog: Path | None, address: str = "127.0.0.1", port: int = 5006,
          show: bool = False) -> None:
    """Open the store once, then serve until interrupted."""
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="bokeh")
    context = get_context(db=db, catalog=catalog)  # fail fast (locked db, bad catalog) before binding
    port = port or _free_port(address)
    origins = [f"{host}:{port}" for host in ("127.0.0.1", "localhost", address)]
    server = pn.serve(
        {"/": lambda: create_app(context=context)},
        address=address, port=port, show=show, threaded=False, start=False,
        websocket_origin=origins, title="IndexLab Batch",
    )
    print(f"IndexLab Batch serving http://{address}:{port}/ (db {context.store.path})", flush=True)
    try:
        server.io_loop.start()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        context.store.close()
