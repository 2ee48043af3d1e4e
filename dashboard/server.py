"""One Tornado/Panel server process: the dashboard at ``/`` and the REST API at ``/api/v1``, sharing one engine."""

from __future__ import annotations

import gc
import secrets
import signal
import socket
import warnings
from pathlib import Path
from typing import Any

import panel as pn

from dashboard import guard
from dashboard.api import handlers as api
from dashboard.context import get_context
from dashboard.views.app import create_app
from dashboard.views.sessions import debug_routes, quiet_closed_pages
from engine.cli.output import plain
from engine.core.config import Config

# Bokeh discards a session once its page has been gone this long (its default: long enough for a slow
# browser to open the websocket after loading the page) ...
UNUSED_SESSION_LIFETIME_MS = 15_000
# ... looking every so often (its default, 17 s, let a closed page's session live up to 32 s).
CHECK_UNUSED_SESSIONS_MS = 2_000


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def settle_heap() -> None:
    """Move what start-up allocated (about 200k objects of Panel, Bokeh, pandas and the catalog) out of the
    garbage collector's sight: they live as long as the process, and walking them made every full
    collection hold the GIL for 90-140 ms, stalling API requests and page updates (bench/api.py p99)."""
    gc.collect()
    gc.freeze()


def serve(config: Config, *, db: Path | None, catalog: Path | None, settings: Path | None = None, address: str = "127.0.0.1",
          port: int = 5006, basic_auth: str | None = None, show: bool = False) -> None:
    """Open the store, catalog and engine once (fail fast before binding), then serve until interrupted; ``config``
    is the process's, read at start-up (the arguments given win over it)."""
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="bokeh")
    quiet_closed_pages()
    guard.install(config)
    context = get_context(db=db, catalog=catalog, settings=settings, config=config)
    port = port or _free_port(address)
    origins = [f"{host}:{port}" for host in ("127.0.0.1", "localhost", address)] + sorted(config.allowed_hosts)
    auth: dict[str, Any] = {}
    if basic_auth:
        auth = {"basic_auth": basic_auth, "cookie_secret": config.cookie_secret or secrets.token_hex(32)}
    server = pn.serve(
        {"/": lambda: create_app(context=context)},
        address=address, port=port, show=show, threaded=False, start=False, websocket_origin=origins,
        title="IndexLab Batch", extra_patterns=[*api.routes(lambda: context), *debug_routes(config.debug_sessions)],
        unused_session_lifetime_milliseconds=UNUSED_SESSION_LIFETIME_MS,
        check_unused_sessions_milliseconds=CHECK_UNUSED_SESSIONS_MS, **auth,
    )
    print(plain(f"IndexLab Batch serving http://{address}:{port}/ and http://{address}:{port}/api/v1 "
                f"(db {context.store.path})"), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: server.io_loop.add_callback_from_signal(server.io_loop.stop))
    settle_heap()
    server.start()  # Bokeh's periodic jobs, among them the one that discards the sessions of closed pages
    try:
        server.io_loop.start()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        context.close()
