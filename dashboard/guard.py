"""Who may reach the server, however it is served (``indexlab serve``, ``panel serve ... --plugins dashboard.api``,
``pn.serve`` of the app).

- A network (non-loopback) address needs both an API token (``INDEXLAB_API_TOKEN``) and a dashboard login
  (Panel's ``--basic-auth`` or OAuth); ``INDEXLAB_API_ALLOW_COMMAND`` is never honoured on one. Checked when a
  socket is added to the server (the one place its address is known for sure), and again per request by the
  API handlers and per session by the dashboard, for servers this module did not configure.
- Request bodies are capped (``max_body_size``) for every route, so no handler's body is buffered past it.
- Hosts and origins the API accepts (``dashboard.api.handlers``): the server's own address, plus ``INDEXLAB_ALLOWED_ORIGINS``
  for deployments behind a proxy (``indexlab serve`` adds them to Panel's websocket origins too).

Importing ``dashboard.api.handlers`` or ``dashboard.views.app`` installs ``GuardedHTTPServer`` through Tornado's documented
``Configurable.configure``, so every ``HTTPServer`` made afterwards in the process (Bokeh's included) is one.

The settings come from the process's configuration (``engine.core.config``), installed once at start-up:
``indexlab serve`` hands its own to ``install``; under ``panel serve`` the first ``install`` (an import) reads it.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from tornado.httpserver import HTTPServer

from engine.core.config import Config, load_config
from engine.core.errors import IndexLabError

SERVER_MAX_BODY_BYTES = 2_000_000  # every route; the API's own limit (1 MB) is lower and answered as JSON 413
TOKEN_ENV = "INDEXLAB_API_TOKEN"
ALLOW_COMMAND_ENV = "INDEXLAB_API_ALLOW_COMMAND"
ORIGINS_ENV = "INDEXLAB_ALLOWED_ORIGINS"
LOGIN = ("a dashboard login (--basic-auth or INDEXLAB_BASIC_AUTH with indexlab serve; --basic-auth or --oauth-provider "
         "with panel serve; basic_auth= or oauth_provider= with pn.serve)")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 (also IPv4-mapped) and ``localhost``; a unix socket's path counts as local too."""
    if host == "localhost" or host.startswith("/"):
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


_installed: Config | None = None  # the server's configuration (``install``)


def server_config() -> Config:
    """The configuration ``install`` was given (or read, the first time it was called without one)."""
    return _installed or install()


def allow_command() -> bool:
    return server_config().api_allow_command


def api_token() -> str | None:
    """The token a POST to the API must bear (``INDEXLAB_API_TOKEN``), or None when the server has none."""
    return server_config().api_token


def has_login(application: Any) -> bool:
    """Bokeh's own test (``BokehTornado``): an auth provider that can tell who the user is."""
    provider = getattr(application, "auth_provider", None)
    return bool(provider is not None and (provider.get_user or provider.get_user_async))


def network_refusal(host: str, port: int | None = None, *, login: bool, peer: bool = False,
                    config: Config | None = None) -> str | None:
    """Why a server must not answer on ``host`` (a local address; with ``peer``, the client's), or None when it may;
    judged by ``config`` (default: the server's)."""
    if is_loopback(host):
        return None
    config = config or server_config()
    where = host if port is None else f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    where = f"{where} over the network" if peer else f"on {where}"
    missing = [name for name, ok in ((f"an API token ({TOKEN_ENV})", config.api_token), (LOGIN, login))
               if not ok]
    if missing:
        return (f"refusing to serve {where}: a network address needs an API token and a dashboard login; "
                f"missing: {' and '.join(missing)}. Or serve on 127.0.0.1 (--address 127.0.0.1; Panel and Bokeh "
                "listen on every interface when no --address is given)")
    if config.api_allow_command:
        return (f"refusing to serve {where}: {ALLOW_COMMAND_ENV}=1 lets API clients run any program as this "
                "server's user, so it is for 127.0.0.1 only (offer commands under api_allow in the --settings file)")
    return None


def local_socket(connection: Any) -> tuple[str, int | None]:
    """The local address and port a request arrived on (the server's side of its socket); a unix socket's path
    has no port. Tornado's HTTP/1 connections always have a socket."""
    name = connection.stream.socket.getsockname()
    return (name, None) if isinstance(name, str) else (name[0], name[1])


class NetworkRefused(IndexLabError):
    code = "network_refused"


class GuardedHTTPServer(HTTPServer):
    """Tornado's HTTPServer with a capped body size and no network socket without auth."""

    def initialize(self, request_callback: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["max_body_size"] = min(kwargs.get("max_body_size") or SERVER_MAX_BODY_BYTES, SERVER_MAX_BODY_BYTES)
        super().initialize(request_callback, *args, **kwargs)

    def add_sockets(self, sockets: list[socket.socket]) -> None:
        for sock in sockets:
            name = sock.getsockname()
            host, port = (name, None) if isinstance(name, str) else (name[0], name[1])
            if why := network_refusal(host, port, login=has_login(self.request_callback)):
                raise NetworkRefused(why, field="--address")
        super().add_sockets(sockets)


def install(config: Config | None = None) -> Config:
    """Every HTTPServer made from now on in this process is a GuardedHTTPServer (unless another class was
    configured), judging by ``config``; without one, the configuration installed before, else the environment's,
    read now (a bad value stops the server here, before it binds)."""
    global _installed
    if config is not None or _installed is None:
        _installed = config or load_config()
    if HTTPServer.configured_class() is HTTPServer:
        HTTPServer.configure(GuardedHTTPServer)
    return _installed


# --------------------------------------------------------------------------- hosts and origins
def configured_hosts() -> frozenset[str]:
    """``host[:port]`` names of ``INDEXLAB_ALLOWED_ORIGINS`` (origins or host:port, comma or space separated)."""
    return server_config().allowed_hosts


def own_hosts(address: str, port: int | None) -> set[str]:
    """The names a client uses for this server when it reaches it on ``address:port`` (none for a unix socket)."""
    def spelled(host: str) -> set[str]:
        name = f"[{host}]" if ":" in host else host
        return {f"{name}:{port}", name} if port == 80 else {f"{name}:{port}"}

    if port is None:
        return set()
    names = spelled(address.split("%", 1)[0])
    if is_loopback(address):
        names |= spelled("localhost") | spelled("127.0.0.1") | spelled("::1")
    return names


def origin_netloc(origin: str) -> str | None:
    """``https://Host:8443`` -> ``host:8443``; ``null`` or anything not an http(s) origin -> None."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.netloc.lower()
