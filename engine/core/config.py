"""The process's configuration: every ``INDEXLAB_*`` setting of the environment, read once at start-up.

The composition roots read it (``indexlab`` in ``engine.cli.main``; ``dashboard.context.get_context`` and
``dashboard.guard.install`` for ``panel serve``) and pass it down; nothing else reads these variables. A bad value
stops start-up with one line naming the variable. An empty value counts as unset.

Not here: the environment a runner gives the program it starts (``INDEXLAB_JOB_ID``, ``INDEXLAB_PRODUCT_ID``, ...),
a contract with external programs; and ``INDEXLAB_CHECKPOINT_THRESHOLD``, which the store reads when it connects.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.core.errors import IndexLabError, StoreError

ENV_PREFIX = "INDEXLAB_"
DEFAULT_DB = Path("var/indexlab.duckdb")
BOOL_HELP = "not a yes/no value (use 1 or 0; true/false, yes/no and on/off also do)"


class ConfigError(IndexLabError):
    code = "bad_configuration"


class Config(BaseSettings):
    """``INDEXLAB_<FIELD>``; the README's configuration table lists each with its meaning."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, extra="ignore")

    db: Path = DEFAULT_DB
    catalog: Path | None = None  # the server's catalog; None: the embedded fixtures catalog
    settings: Path | None = None  # the server's default batch settings file (JSON or TOML)
    auto_resume: bool = True  # the server resumes the batches that were running when it stopped
    max_workers: int | None = Field(default=None, ge=1, le=256)  # the server's worker budget (its settings file's otherwise)
    max_running_batches: int | None = Field(default=None, ge=1, le=1000)  # batches running at once; more queue
    api_token: str | None = Field(default=None, repr=False)
    api_allow_command: bool = False
    allowed_origins: str = ""
    basic_auth: str | None = Field(default=None, repr=False)
    cookie_secret: str | None = Field(default=None, repr=False)
    debug_sessions: bool = False
    url: str | None = None  # the server ``indexlab batch`` talks to
    executor: Literal["local", "dask"] | None = None  # where product jobs run (docs/scale-out.md); None: the settings
    # file's, else local
    dask_scheduler: str | None = None  # with executor dask: the scheduler's address; None starts a LocalCluster
    dask_workers: int | None = Field(default=None, ge=1, le=64)  # worker processes of that LocalCluster (default 2)

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        parse_hosts(value)
        return value

    @property
    def allowed_hosts(self) -> frozenset[str]:
        """``host[:port]`` names of ``INDEXLAB_ALLOWED_ORIGINS``."""
        return parse_hosts(self.allowed_origins)


def capacity_overrides(config: Config) -> dict[str, int]:
    """The worker budget the environment sets (``INDEXLAB_MAX_WORKERS``, ``INDEXLAB_MAX_RUNNING_BATCHES``)."""
    return {name: value for name in ("max_workers", "max_running_batches")
            if (value := getattr(config, name)) is not None}


def load_config() -> Config:
    """This process's configuration, read from its environment now (call once, at start-up), or one
    ``ConfigError`` naming the first bad variable and its value."""
    try:
        return Config()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ENV_PREFIX + str(first["loc"][0]).upper() if first["loc"] else ENV_PREFIX
        message = (BOOL_HELP if first["type"] in ("bool_parsing", "bool_type")
                   else str(first.get("ctx", {}).get("error") or first["msg"]).split("\n", 1)[0])
        raise ConfigError(f"{name}={first['input']!r}: {message}", field=name) from None


@lru_cache(maxsize=8)
def parse_hosts(value: str) -> frozenset[str]:
    """``INDEXLAB_ALLOWED_ORIGINS`` (origins or host:port, comma or space separated) as ``host[:port]`` names."""
    hosts: set[str] = set()
    for entry in value.replace(",", " ").split():
        parts = urlsplit(entry if "://" in entry else f"http://{entry}")
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("http", "https") or not parts.hostname or port == -1 or parts.path not in ("", "/"):
            raise ValueError(f"{entry!r} is not an origin such as https://batch.example.com "
                             "or a host:port such as batch.example.com:8443")
        hosts.add(parts.netloc.lower())
        if port is None:  # a browser leaves out the scheme's default port: accept both spellings
            hosts.add(f"{parts.netloc.lower()}:{443 if parts.scheme == 'https' else 80}")
    return frozenset(hosts)


def db_path(path: str | Path, *, writes: bool = True) -> Path:
    """``path`` ready for the store to open, or one clear ``StoreError``: a parent that cannot be made, a directory
    IndexLab cannot write to (DuckDB opens the file there, then fails at the first commit)."""
    path = Path(path)
    if writes and path.parent.is_dir() and not os.access(path.parent, os.W_OK | os.X_OK):
        raise StoreError(f"cannot write to the database directory {path.parent}: permission denied (DuckDB writes"
                         f" {path.name}.wal there); fix its permissions or use another --db", field="--db")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot open database {path}: {exc.strerror or exc} ({exc.filename})", field="--db") from None
    return path
