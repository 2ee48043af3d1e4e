"""The settings snapshot frozen into a batch at plan time.

A batch always runs with the settings it was planned with, whatever the operator changes
afterwards, so a resumed or restored batch behaves exactly as previewed.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.core.errors import IndexLabError


class Profile(str, Enum):
    FAST = "fast"
    STANDARD = "standard"
    THOROUGH = "thorough"

    def __str__(self) -> str:
        return self.value


# Seconds one product run takes per profile, used for estimates until the store has history.
# fast: a couple of sources; standard: every source; thorough: every source plus LLM calls.
PROFILE_SECONDS_PER_PRODUCT: dict[Profile, tuple[float, float]] = {
    Profile.FAST: (2.0, 8.0),
    Profile.STANDARD: (6.0, 20.0),
    Profile.THOROUGH: (20.0, 60.0),
}

# Profiles that call the LLM provider and so need its API key.
PROFILES_NEEDING_PROVIDER = frozenset({Profile.THOROUGH})


class BatchSettings(BaseModel):
    """Everything a batch needs to run, frozen at plan time."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)

    profile: Profile = Field(Profile.STANDARD, description="How hard each product run works: fast | standard | thorough.")
    runner: str = Field("harvest", min_length=1, max_length=64, description=(
        "The product job: harvest, noop, command, or an installed runner plugin's name (indexlab runners)."))
    command: list[str] | None = Field(None, description="argv of the external program, for runner=command.")
    corpus: str | None = Field(None, max_length=1024, description="Sources index (sources.jsonl) for runner=harvest; default: the embedded corpus.")
    llm_provider: str = Field("openai", min_length=1, max_length=64, description="Name of the LLM provider (rate limits are per provider).")
    llm_model: str = Field("gpt-4o-mini", min_length=1, max_length=128, description="Model asked by the thorough profile.")
    llm_base_url: str = Field("https://api.openai.com/v1", min_length=1, max_length=512, description="OpenAI-compatible endpoint.")
    llm_api_key_env: str = Field("OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                 description="Env var holding the provider key (the key itself is never stored).")
    workers: int = Field(2, ge=1, le=64, description="Products run at once.")
    executor: Literal["local", "dask"] | None = Field(None, description=(
        "Where the product jobs run: local (the server's threads) or dask (the Dask cluster the server was started "
        "with; a server without one refuses it). Unset: the server's default. A batch names a kind, never an "
        "address: the cluster is the server's configuration (docs/scale-out.md)."))
    max_run_seconds: float = Field(600.0, gt=0, le=86_400, description="Per product attempt; past it the attempt is cancelled and fails.")
    max_attempts: int = Field(3, ge=1, le=20, description="Attempts per product before it is failed.")
    max_crashes: int = Field(3, ge=1, le=100, description="Times a product may kill the process running it (found "
                             "running at restart) before it is failed with 'crashed the worker N times'.")
    retry_backoff_seconds: float = Field(5.0, ge=0, le=3_600, description="Base of the exponential backoff (full jitter) between attempts.")
    retry_backoff_max_seconds: float = Field(300.0, ge=0, le=86_400, description="Cap of the backoff between attempts.")
    domain_cooldown_seconds: float = Field(1.0, ge=0, le=3_600, description="Minimum gap between request starts to one domain.")
    domain_concurrency: int = Field(2, ge=1, le=64, description="Requests in flight to one domain at once.")
    provider_rate_per_minute: float = Field(60.0, gt=0, le=100_000, description="LLM calls per minute per provider.")
    min_required_coverage: float = Field(0.8, ge=0, le=1, description=(
        "Quality gate: a completed product whose outcome reports a required-field coverage below this needs "
        "review (the batch is then partial, not succeeded). 0 turns the gate off; outcomes that report no "
        "coverage are not gated."))
    fail_fast_failures: int = Field(20, ge=0, le=100_000, description="Pause the batch after this many consecutive failures (0: never).")

    @model_validator(mode="after")
    def _command_needs_argv(self) -> BatchSettings:
        if self.runner == "command" and not self.command:
            raise ValueError("runner 'command' needs a command (argv list), e.g. ['python', 'my_job.py']")
        return self

    @property
    def needs_provider_key(self) -> bool:
        return self.profile in PROFILES_NEEDING_PROVIDER


def with_defaults(defaults: BatchSettings, changes: dict) -> BatchSettings:
    """``defaults`` with ``changes`` applied, validated as a whole (a ``runner='command'`` change is
    valid when the defaults hold the command)."""
    return BatchSettings.model_validate({**defaults.model_dump(), **changes})


class SettingsFileError(IndexLabError):
    """A settings file that cannot be used; the message names the file, and the field when one is to blame."""

    code = "settings_invalid"


class LlmEndpoint(BaseModel):
    """An OpenAI-compatible endpoint and the env var holding its key: offered together, never mixed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(min_length=1, max_length=512, pattern=r"^https?://", description="OpenAI-compatible endpoint.")
    api_key_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Env var holding this endpoint's key.")


class ApiAllow(BaseModel):
    """What API plans may choose besides the server's own settings (``api_allow`` in the settings file).

    Settings that name a network endpoint, a secret, a program or a path are the server's to choose: an
    API plan may name the server's own value or one listed here, nothing else.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    llm_endpoints: list[LlmEndpoint] = Field(default_factory=list, max_length=100,
                                             description="More LLM endpoints, each with its key's env var.")
    commands: list[list[str]] = Field(default_factory=list, max_length=100,
                                      description="More argv lists for runner=command.")
    corpora: list[str] = Field(default_factory=list, max_length=100, description="More sources indexes.")

    def llm_endpoints_with(self, defaults: BatchSettings) -> list[LlmEndpoint]:
        """Every endpoint on offer, the server's own first."""
        own = LlmEndpoint.model_construct(base_url=defaults.llm_base_url, api_key_env=defaults.llm_api_key_env)
        return [own, *self.llm_endpoints]


class Capacity(BaseModel):
    """The server's worker budget, shared by every batch it runs (a batch's own ``workers`` caps its share)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_workers: int = Field(4, ge=1, le=256, description="Products run at once by the whole server, all batches together.")
    max_running_batches: int = Field(4, ge=1, le=1000, description=(
        "Batches running at once; starting one more queues it until one of them pauses, stops or completes."))


CAPACITY_FIELDS = tuple(Capacity.model_fields)


class ServerSettings(BaseModel):
    """A settings file: the server's batch defaults, its worker budget, and what API plans may choose besides them."""

    model_config = ConfigDict(frozen=True)

    defaults: BatchSettings = Field(default_factory=BatchSettings)
    api_allow: ApiAllow = Field(default_factory=ApiAllow)
    max_workers: int = Field(4, ge=1, le=256, description=Capacity.model_fields["max_workers"].description)
    max_running_batches: int = Field(4, ge=1, le=1000, description=Capacity.model_fields["max_running_batches"].description)
    executor: Literal["local", "dask"] = Field("local", description=(
        "Where product jobs run: local (the server's threads) or dask (a Dask cluster; docs/scale-out.md). "
        "INDEXLAB_EXECUTOR and --executor win over it."))
    dask_scheduler: str | None = Field(None, max_length=500, description=(
        "With executor dask: the scheduler's address, e.g. tls://10.0.0.5:8786 (none: a LocalCluster on this "
        "machine). INDEXLAB_DASK_SCHEDULER and --scheduler win over it."))
    dask_workers: int | None = Field(None, ge=1, le=64, description="Worker processes of that LocalCluster (default 2).")

    @property
    def capacity(self) -> Capacity:
        return Capacity(max_workers=self.max_workers, max_running_batches=self.max_running_batches)


def load_server_settings(path: str | Path, *, check_runner: Callable[[str], object] | None = None) -> ServerSettings:
    """A JSON or TOML file of ``BatchSettings`` fields, the server's ``max_workers`` and ``max_running_batches``
    (``Capacity``) and an optional ``api_allow`` table (unknown fields are refused).

    ``indexlab serve --settings FILE`` uses the fields for every new batch planned in the dashboard, and
    for the fields an API plan leaves out: the place for an administrator's ``command`` (the real
    product pipeline), ``corpus`` or LLM endpoint, which operators then cannot change. ``api_allow``
    lists the other endpoints, commands and corpora API plans may pick.

    ``check_runner`` (``engine.runners.check_runner``, passed by whoever wires settings to runners: this
    layer knows no runner) refuses a runner this process does not have, as a ``SettingsFileError`` on
    field ``runner``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsFileError(f"settings file {path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:  # a binary file, or another encoding
        raise SettingsFileError(f"settings file {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsFileError(f"settings file {path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsFileError(f"settings file {path}: not valid TOML ({exc})") from None
    if not isinstance(data, dict):
        raise SettingsFileError(f"settings file {path}: expected an object of settings, found {type(data).__name__}")
    try:  # JSON's "\\ud800" escape without its pair: no program, database or terminal takes that text
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise SettingsFileError(f"settings file {path}: a text holds an unpaired surrogate (a \\ud800-style"
                                " escape without its pair); write the character itself") from None
    allow = data.pop("api_allow", {})
    budget = {name: data.pop(name) for name in CAPACITY_FIELDS if name in data}
    try:
        server = ServerSettings(defaults=BatchSettings.model_validate(data), api_allow=ApiAllow.model_validate(allow),
                                **Capacity.model_validate(budget).model_dump())
    except ValidationError as exc:
        within = ["api_allow"] if exc.title == ApiAllow.__name__ else []
        problems = "; ".join(f"field {'.'.join(map(str, [*within, *e['loc']])) or '(file)'}: {e['msg']}"
                             for e in exc.errors())
        raise SettingsFileError(f"settings file {path}: {problems}") from None
    if check_runner is not None:
        try:  # refused now, not when the first batch planned with it starts
            check_runner(server.defaults.runner)
        except IndexLabError as exc:
            raise SettingsFileError(f"settings file {path}: field runner: {exc}", field="runner") from None
    return server


def load_settings_file(path: str | Path, *, check_runner: Callable[[str], object] | None = None) -> BatchSettings:
    """The batch defaults of a settings file (see ``load_server_settings``)."""
    return load_server_settings(path, check_runner=check_runner).defaults
