"""Limits that hold across a Dask cluster (DESIGN §5): one limiter living in one place, a Dask actor.

``LimitsHost`` runs on one worker (``start_limits``) and holds the cluster's one ``DomainLimiter`` and
``ProviderLimiter``. An actor runs its methods one at a time on a single thread, so they never block: each takes a
slot or a token now, or says how many seconds to wait. ``ClusterLimits``, made on a worker from the actor's handle (a
task's argument), gives runners the ``.domains`` and ``.providers`` they know from ``Limits`` and waits on the
caller's side, on the attempt's cancel token: force stop and deadlines bite as they do locally.

A slot is a lease: released in ``finally``; one its holder never gave back (the worker died, the release call was
lost) returns by itself once the holder's deadline has passed, plus ``LEASE_GRACE_S``. A limiter that does not answer
fails the call with a retryable ``RunnerError``. Nothing here imports ``distributed``: the caller hands in its client.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from engine.core.limits import CancelToken, Clock, DomainLimiter, Limits, ProviderLimiter, SystemClock
from engine.runners.base import RunnerError

log = logging.getLogger("indexlab.dask")

CALL_TIMEOUT_S = 10.0  # one call to the limiter; past it the limiter counts as unreachable
POLL_S = 0.05  # how long a slot waiter waits before asking again while every slot of its domain is held
LEASE_GRACE_S = 30.0  # a slot outlives its holder's deadline by this much before it is taken back
NO_DEADLINE_LEASE_S = 3600.0  # the lease of a holder without a deadline


class LimitsHost:
    """The cluster's one limiter, a Dask actor: ``client.submit(LimitsHost, ..., actor=True)`` (``start_limits``).
    Methods never block; slots are leases named by the caller, so a release is idempotent."""

    def __init__(self, *, domain_concurrency: int, domain_cooldown: float, provider_rate_per_minute: float,
                 clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._limits = Limits(DomainLimiter(domain_concurrency, domain_cooldown, clock=self._clock),
                              ProviderLimiter(provider_rate_per_minute, clock=self._clock))
        self._leases: dict[str, tuple[str, float]] = {}  # lease -> (domain, when it is taken back)

    def configure(self, **values: Any) -> None:
        self._limits.configure(**values)

    def try_enter(self, domain: str, lease: str, hold_s: float) -> float:
        """A slot of ``domain`` held as ``lease`` for at most ``hold_s`` (0.0), or the seconds to wait first."""
        self._reap()
        wait = self._limits.domains.try_enter(domain, POLL_S)
        if wait == 0.0:
            self._leases[lease] = (domain, self._clock.monotonic() + hold_s)
        return wait

    def release(self, lease: str) -> bool:
        """Give back the lease's slot; False when it is not held (released already, taken back, never granted)."""
        held = self._leases.pop(lease, None)
        if held is not None:
            self._limits.domains.release(held[0])
        return held is not None

    def _reap(self) -> None:
        now = self._clock.monotonic()
        for lease, (domain, until) in list(self._leases.items()):
            if until <= now:
                log.warning("a slot of %s was never given back (its worker died?); taken back after its lease", domain)
                self.release(lease)

    def report(self, domain: str, status: int, retry_after: float | None = None) -> None:
        self._limits.domains.report(domain, status, retry_after)

    def cooldown(self, domain: str) -> float:
        return self._limits.domains.cooldown(domain)

    def in_flight(self, domain: str) -> int:
        self._reap()
        return self._limits.domains.in_flight(domain)

    def max_in_flight_seen(self, domain: str) -> int:
        return self._limits.domains.max_in_flight_seen(domain)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        self._reap()
        return self._limits.domains.snapshot()

    def try_acquire(self, provider: str) -> float:
        return self._limits.providers.try_acquire_wait(provider)

    def report_rate_limited(self, provider: str, retry_after: float | None = None) -> float:
        return self._limits.providers.report_rate_limited(provider, retry_after)

    def report_success(self, provider: str) -> None:
        self._limits.providers.report_success(provider)


def start_limits(client: Any, *, domain_concurrency: int, domain_cooldown: float,
                 provider_rate_per_minute: float) -> Any:
    """Start the cluster's limiter on one of ``client``'s workers; returns its handle (a ``distributed.Actor``),
    which lives as long as the handle does and travels in tasks' arguments."""
    future = client.submit(LimitsHost, domain_concurrency=domain_concurrency, domain_cooldown=domain_cooldown,
                           provider_rate_per_minute=provider_rate_per_minute, actor=True,
                           key=f"indexlab-limits-{uuid.uuid4().hex}")
    with client.as_current():  # the handle binds to ``client``, whose reference keeps the actor alive
        return future.result(timeout=CALL_TIMEOUT_S)


def configure(handle: Any, *, domain_concurrency: int, domain_cooldown: float, provider_rate_per_minute: float) -> None:
    """Adopt a batch's limits, as ``Limits.configure`` does for one process."""
    handle.configure(domain_concurrency=domain_concurrency, domain_cooldown=domain_cooldown,
                     provider_rate_per_minute=provider_rate_per_minute).result(timeout=CALL_TIMEOUT_S)


class ClusterLimits:
    """``ctx.limits`` on a Dask worker: ``.domains`` and ``.providers`` as in ``Limits``, backed by the actor."""

    def __init__(self, handle: Any, clock: Clock | None = None, timeout: float = CALL_TIMEOUT_S) -> None:
        self.handle, self.timeout = handle, timeout
        self.clock = clock or SystemClock()
        self.domains = ClusterDomains(self)
        self.providers = ClusterProviders(self)

    def __reduce__(self) -> tuple[Any, ...]:  # travels as its handle; the receiving process sleeps on its own clock
        return ClusterLimits, (self.handle, None, self.timeout)

    def call(self, method: str, *args: Any) -> Any:
        """One call to the actor, waited for; a retryable ``RunnerError`` when the limiter does not answer."""
        try:
            return getattr(self.handle, method)(*args).result(timeout=self.timeout)
        except Exception as exc:
            raise RunnerError(f"the cluster's limiter is unreachable ({method}: {type(exc).__name__}: {exc}); "
                              "the attempt can run again once it answers", retryable=True) from exc

    def wait_for(self, method: str, args: tuple[Any, ...], cancel: CancelToken | None) -> None:
        """Ask until the actor grants (returns 0.0), sleeping what it says in between, cancel-aware."""
        while True:
            if cancel is not None:
                cancel.raise_if_cancelled()
            wait = self.call(method, *args)
            if wait == 0.0:
                return
            self.clock.sleep(wait, cancel)


class ClusterDomains:
    """The ``DomainLimiter`` API over the cluster's limiter."""

    def __init__(self, limits: ClusterLimits) -> None:
        self._limits = limits

    @contextmanager
    def slot(self, domain: str, cancel: CancelToken | None = None) -> Iterator[None]:
        """Hold one of the domain's slots cluster-wide; given back when the block ends, however it ends."""
        lease = uuid.uuid4().hex
        left = cancel.remaining() if cancel is not None else None
        hold_s = (NO_DEADLINE_LEASE_S if left is None else max(0.0, left)) + LEASE_GRACE_S
        try:
            self._limits.wait_for("try_enter", (domain, lease, hold_s), cancel)
        except RunnerError:  # a grant may have landed without its answer
            self._give_back(lease, domain)
            raise
        try:
            yield
        finally:
            self._give_back(lease, domain)

    def _give_back(self, lease: str, domain: str) -> None:
        try:
            self._limits.call("release", lease)
        except RunnerError as exc:  # the lease ends by itself; the request's own outcome stands
            log.warning("could not give back a slot of %s (%s); it returns when its lease ends", domain, exc)

    def report(self, domain: str, status: int, retry_after: float | None = None) -> None:
        self._limits.call("report", domain, status, retry_after)

    def cooldown(self, domain: str) -> float:
        return self._limits.call("cooldown", domain)

    def in_flight(self, domain: str) -> int:
        return self._limits.call("in_flight", domain)

    def max_in_flight_seen(self, domain: str) -> int:
        return self._limits.call("max_in_flight_seen", domain)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return self._limits.call("snapshot")


class ClusterProviders:
    """The ``ProviderLimiter`` API over the cluster's limiter."""

    def __init__(self, limits: ClusterLimits) -> None:
        self._limits = limits

    def acquire(self, provider: str, cancel: CancelToken | None = None) -> None:
        """Wait out any 429 block and the bucket, cluster-wide, then take a token."""
        self._limits.wait_for("try_acquire", (provider,), cancel)

    def report_rate_limited(self, provider: str, retry_after: float | None = None) -> float:
        return self._limits.call("report_rate_limited", provider, retry_after)

    def report_success(self, provider: str) -> None:
        self._limits.call("report_success", provider)
