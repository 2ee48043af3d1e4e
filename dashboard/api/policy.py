"""What a client's settings may name: the server's own programs, paths, LLM endpoints and keys, or those its
settings file offers (``api_allow``), nothing else. A plan's and a re-run's settings both pass here.

``runner`` is not gated: every runner this process has is the server's offer, built-ins and the runner plugins the
operator installed alike (docs/runners.md). A client names one and brings no code; what it could bring that a runner
might run or read (``command``, ``corpus``) is checked here whatever the runner."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from dashboard import guard
from dashboard.api.base import ApiError
from engine.core.settings import ApiAllow, BatchSettings, with_defaults

PROGRAMS_AND_PATHS = ("Programs and paths come from the server's --settings file (command, corpus, api_allow.commands, "
                      "api_allow.corpora); the CLI on the server may use any, and a server on 127.0.0.1 started with "
                      f"{guard.ALLOW_COMMAND_ENV}=1 lets API clients name any")
ENDPOINTS = ("LLM endpoints come from the server's --settings file (llm_base_url, api_allow.llm_endpoints); the CLI on "
             "the server may use any")
KEYS = "Each LLM endpoint of the server's --settings file has its own key: send llm_base_url and llm_api_key_env together"


def _refuse_server_side(settings: BatchSettings, defaults: BatchSettings, allow: ApiAllow) -> None:
    """Settings that name a program, a path, a network endpoint or a secret: the server's own or those its
    settings file offers, nothing else (403 naming the field). ``INDEXLAB_API_ALLOW_COMMAND`` opens programs
    and paths to a trusted local client, never endpoints or secrets."""
    def refuse(name: str, what: str, offered: list[Any], how: str) -> ApiError:
        listed = ", ".join(json.dumps(v) for v in offered) or "none"
        return ApiError(403, "forbidden_setting", f"settings.{name} {what} (it offers: {listed}). {how}",
                        f"settings.{name}")

    if not guard.allow_command():
        commands = [c for c in (defaults.command, *allow.commands) if c]
        if settings.command is not None and settings.command not in commands:
            raise refuse("command", "names a program this server does not offer", commands, PROGRAMS_AND_PATHS)
        corpora = [defaults.corpus, *allow.corpora]
        if settings.corpus not in corpora:
            raise refuse("corpus", "names a sources index this server does not offer", corpora, PROGRAMS_AND_PATHS)
    endpoints = allow.llm_endpoints_with(defaults)
    if settings.llm_base_url not in [e.base_url for e in endpoints]:
        raise refuse("llm_base_url", "is an LLM endpoint this server does not offer",
                     list(dict.fromkeys(e.base_url for e in endpoints)), ENDPOINTS)
    keys = [e.api_key_env for e in endpoints if e.base_url == settings.llm_base_url]
    if settings.llm_api_key_env not in keys:
        raise refuse("llm_api_key_env", f"names a key this server does not send to {settings.llm_base_url}", keys, KEYS)


def _plan_settings(changes: dict[str, Any], defaults: BatchSettings, allow: ApiAllow, *,
                   base: BatchSettings | None = None) -> BatchSettings:
    """``base`` (the server's defaults; for a re-run, its batch's settings) with a client's changes, refused (403)
    where the result names what the server does not offer. The whole result is checked, so a re-run neither
    names nor inherits a program, path, endpoint or key the server does not offer (a batch the CLI planned with
    its own command is re-run with the CLI: ``indexlab rerun``)."""
    base = base or defaults
    if changes.get("runner") == "command" and "command" not in changes and not base.command \
            and not guard.allow_command():
        raise ApiError(403, "forbidden_setting", "runner 'command' needs a command, and this server has none in its "
                       "--settings file: name one it offers under api_allow.commands, or plan with the CLI",
                       "settings.command")
    try:
        settings = with_defaults(base, changes)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(["settings", *(str(p) for p in first["loc"])])
        raise ApiError(422, "invalid", f"{field}: {first['msg']}", field) from None
    try:
        _refuse_server_side(settings, defaults, allow)
    except ApiError as exc:
        if base is not defaults and (exc.field or "").removeprefix("settings.") not in changes:
            exc.message = f"the batch's own {exc.message} (the server's API re-runs only what it offers)"
        raise
    return settings
