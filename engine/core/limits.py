"""Backpressure shared by every worker and batch in the process (DESIGN §5).

Domain caps and cooldowns keep us polite to source sites; provider token buckets and backoff
keep LLM calls under their rate limits; every wait takes a cancel token (with an optional
deadline) so force stop and ``max_run_seconds`` bite promptly. Time comes from an injectable
``Clock`` so unit tests run on fake time."""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from engine.core.errors import IndexLabError

_EPS = 1e-9  # float slack: never spin on a wait of a few ulps
_POLL = 0.05  # real seconds a slot waiter sleeps between cancel/deadline checks
_MIN_GROWTH_FROM = 0.25  # a 429 must back off even when the base cooldown is 0


class Cancelled(IndexLabError):
    """The job's cancel token was set (force stop); stop work and unwind."""

    code = "cancelled"


class DeadlineExceeded(Cancelled):
    """The attempt ran past its deadline (``max_run_seconds``)."""

    code = "deadline_exceeded"


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def sleep(self, seconds: float, cancel: CancelToken | None = None) -> None: ...


class SystemClock:
    """Real time; sleeps wait on the cancel token so a cancel cuts them short."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float, cancel: CancelToken | None = None) -> None:
        if cancel is None:
            return time.sleep(max(0.0, seconds))
        left = cancel.remaining()  # wake at the deadline, not after it
        cancel.wait(max(0.0, seconds if left is None else min(seconds, left)))


class FakeClock:
    """Test time: only ``sleep``/``advance`` move it, instantly. Sleeps stop at a deadline."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float, cancel: CancelToken | None = None) -> None:
        if cancel is not None and cancel.is_set():
            return
        with self._lock:
            target = self._now + max(0.0, seconds)
            if cancel is not None and cancel.deadline is not None:
                target = min(target, max(self._now, cancel.deadline))  # land exactly on it
            self.sleeps.append(target - self._now)
            self._now = target

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)  # monotonic: never backwards


_SYSTEM_CLOCK = SystemClock()


_TOKEN_LOCK = threading.Lock()  # makes a token's event and sets it: rare, so one lock for all


class CancelToken:
    """Cooperative cancel for one job attempt: an explicit ``set`` plus an optional deadline.
    ``is_set`` reports only the explicit cancel; ``raise_if_cancelled`` also enforces the deadline.

    The engine makes one per attempt, tens of thousands a second, and most are never set nor waited on:
    the ``threading.Event`` (a Condition and a lock) is made only when someone waits."""

    __slots__ = ("deadline", "clock", "reason", "_set", "_event")

    def __init__(self, deadline: float | None = None, clock: Clock | None = None) -> None:
        self.deadline = deadline  # on the clock's monotonic scale
        self.clock: Clock = clock or _SYSTEM_CLOCK
        self.reason: str | None = None  # why it was set: "force stop", ...
        self._set = False
        self._event: threading.Event | None = None

    def set(self, reason: str = "cancelled") -> None:
        with _TOKEN_LOCK:
            if self._set:  # the first reason wins
                return
            self.reason = reason
            self._set = True
            event = self._event
        if event is not None:
            event.set()

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        """Block until set or ``timeout`` real seconds pass; True if set."""
        with _TOKEN_LOCK:
            if self._set:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return event.wait(timeout)

    def remaining(self) -> float | None:
        """Seconds left before the deadline (may be negative); None without one."""
        return None if self.deadline is None else self.deadline - self.clock.monotonic()

    def raise_if_cancelled(self) -> None:
        if self._set:
            raise Cancelled(f"job cancelled ({self.reason}); it stops here and can be re-queued")
        left = self.remaining()
        if left is not None and left <= 0:
            raise DeadlineExceeded(f"attempt passed its deadline by {-left:.1f}s; "
                                   "raise max_run_seconds if the product needs longer")


def _check(cancel: CancelToken | None) -> None:
    if cancel is not None:
        cancel.raise_if_cancelled()


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter, uniform(0, min(cap, base * 2**(attempt-1))): workers that failed
    together spread their retries instead of all coming back at the same instant."""
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 1000))  # 2.0**1024 would overflow
    return rng.uniform(0.0, max(0.0, ceiling))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date). None when absent or
    unparseable, so callers fall back to their own backoff; a past date is 0, never negative."""
    text = (value or "").strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    now = now or datetime.now(UTC)
    when, now = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (when, now))
    return max(0.0, (when - now).total_seconds())


class TokenBucket:
    """``rate`` tokens per second, up to ``burst`` saved; starts full."""

    def __init__(self, rate: float, burst: int, clock: Clock | None = None) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"token bucket needs rate > 0 and burst >= 1, got {rate=}, {burst=}")
        self.rate, self.burst = rate, burst
        self._clock = clock or _SYSTEM_CLOCK
        self._tokens, self._last = float(burst), self._clock.monotonic()
        self._lock = threading.Lock()

    def _take_or_wait(self, tokens: float) -> float:
        """Take tokens if there are enough (return 0), else return seconds until there will be."""
        with self._lock:
            now = self._clock.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens + _EPS >= tokens:
                self._tokens -= tokens
                return 0.0
            return (tokens - self._tokens) / self.rate

    def try_acquire(self, tokens: float = 1) -> bool:
        return self._take_or_wait(tokens) == 0.0

    def acquire(self, tokens: float = 1, cancel: CancelToken | None = None) -> None:
        if tokens > self.burst:
            raise ValueError(f"cannot take {tokens} tokens from a bucket of {self.burst}")
        while True:
            _check(cancel)
            wait = self._take_or_wait(tokens)
            if wait == 0.0:
                return
            self._clock.sleep(wait, cancel)


class ProviderLimiter:
    """Rate limit and 429 backoff per LLM provider, shared by every worker."""

    def __init__(self, rate_per_minute: float = 60.0, burst: int = 3, backoff_base: float = 1.0,
                 backoff_cap: float = 60.0, clock: Clock | None = None,
                 rng: random.Random | None = None) -> None:
        self.rate_per_minute, self.burst = rate_per_minute, burst
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self._clock = clock or _SYSTEM_CLOCK
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}
        self._streak: dict[str, int] = {}  # consecutive 429s
        self._blocked_until: dict[str, float] = {}

    def _bucket(self, provider: str) -> TokenBucket:
        with self._lock:
            if provider not in self._buckets:
                self._buckets[provider] = TokenBucket(self.rate_per_minute / 60.0, self.burst, self._clock)
            return self._buckets[provider]

    def _wait_unblocked(self, provider: str, cancel: CancelToken | None) -> None:
        while True:
            _check(cancel)
            with self._lock:
                wait = self._blocked_until.get(provider, -math.inf) - self._clock.monotonic()
            if wait <= _EPS:
                return
            self._clock.sleep(wait, cancel)

    def acquire(self, provider: str, cancel: CancelToken | None = None) -> None:
        """Wait out any 429 block and take a token; a 429 that lands meanwhile is honoured too."""
        self._wait_unblocked(provider, cancel)
        self._bucket(provider).acquire(1, cancel)
        self._wait_unblocked(provider, cancel)

    def try_acquire_wait(self, provider: str) -> float:
        """Never blocks: take a token now (0.0), else the seconds to wait before trying again (a 429 block's rest, or
        until the bucket refills). For a limiter living in one place (engine/dask/limits.py): callers wait themselves."""
        with self._lock:
            blocked = self._blocked_until.get(provider, -math.inf) - self._clock.monotonic()
        if blocked > _EPS:
            return blocked
        return self._bucket(provider)._take_or_wait(1)

    def report_rate_limited(self, provider: str, retry_after: float | None = None) -> float:
        """Block the provider for max(Retry-After, jittered backoff); returns that delay."""
        with self._lock:
            streak = self._streak[provider] = self._streak.get(provider, 0) + 1
            delay = max(retry_after or 0.0, backoff_delay(streak, self.backoff_base, self.backoff_cap, self._rng))
            until = self._clock.monotonic() + delay
            self._blocked_until[provider] = max(self._blocked_until.get(provider, -math.inf), until)
            return delay

    def report_success(self, provider: str) -> None:
        with self._lock:
            self._streak.pop(provider, None)


@dataclass
class _DomainState:
    cond: threading.Condition
    cooldown: float
    in_flight: int = 0
    waiting: int = 0
    max_in_flight_seen: int = 0
    last_start: float = -math.inf
    penalty_until: float = -math.inf  # set by 429/503: no start before it

    def ready_at(self) -> float:
        return max(self.last_start + self.cooldown, self.penalty_until)


class DomainLimiter:
    """Per-domain concurrency cap plus a cooldown between request starts that adapts to 429/503."""

    def __init__(self, concurrency: int = 2, base_cooldown: float = 1.0, factor: float = 2.0,
                 decay: float = 0.9, max_delay: float = 60.0,
                 clock: Clock | None = None) -> None:
        if concurrency < 1 or base_cooldown < 0 or factor < 1 or not 0 < decay <= 1:
            raise ValueError("domain limits need concurrency >= 1, cooldown >= 0, factor >= 1, 0 < decay <= 1")
        self.concurrency, self.base_cooldown = concurrency, base_cooldown
        self.factor, self.decay = factor, decay
        self.max_delay = max(max_delay, base_cooldown)  # a hard cap below the base would be moot
        self._clock = clock or _SYSTEM_CLOCK
        self._lock = threading.Lock()  # one lock; each domain's Condition shares it
        self._domains: dict[str, _DomainState] = {}

    def _state(self, domain: str) -> _DomainState:  # caller holds self._lock
        key = domain.lower()
        if key not in self._domains:
            self._domains[key] = _DomainState(threading.Condition(self._lock), self.base_cooldown)
        return self._domains[key]

    @contextmanager
    def slot(self, domain: str, cancel: CancelToken | None = None) -> Iterator[None]:
        """Hold one of the domain's slots, started no sooner than its cooldown allows."""
        self._enter(domain, cancel)
        try:
            yield
        finally:
            self.release(domain)

    def _enter(self, domain: str, cancel: CancelToken | None) -> None:
        # Slot waits block on the Condition (woken by a release, polled for cancel); cooldown
        # waits go through clock.sleep outside the lock, then everything is re-checked.
        while True:
            _check(cancel)
            with self._lock:
                state = self._state(domain)
                wait = self._take(state)
                if wait is None:
                    state.waiting += 1
                    state.cond.wait(_POLL)
                    state.waiting -= 1
                    continue
                if wait == 0.0:
                    return
            self._clock.sleep(wait, cancel)

    def _take(self, state: _DomainState) -> float | None:  # caller holds self._lock
        """Start a request now (0.0), or the seconds its cooldown still asks for; None when every slot is held."""
        if state.in_flight >= self.concurrency:
            return None
        now = self._clock.monotonic()
        wait = state.ready_at() - now
        if wait > _EPS:
            return wait
        state.in_flight += 1
        state.last_start = now
        state.max_in_flight_seen = max(state.max_in_flight_seen, state.in_flight)
        return 0.0

    def try_enter(self, domain: str, poll: float = _POLL) -> float:
        """Never blocks: take a slot now (0.0, and the caller must ``release`` it), else the seconds to wait before
        trying again: the cooldown's rest, or ``poll`` when every slot is held. For a limiter living in one place
        (engine/dask/limits.py): its callers wait on their side, cancel-aware."""
        with self._lock:
            wait = self._take(self._state(domain))
        return poll if wait is None else wait

    def release(self, domain: str) -> None:
        """Give back a slot taken by ``try_enter`` (``slot`` does it itself)."""
        with self._lock:
            state = self._state(domain)
            state.in_flight -= 1
            state.cond.notify_all()  # waiters re-check; a cancelled one may not take it

    def report(self, domain: str, status: int, retry_after: float | None = None) -> None:
        """Adapt the cooldown: grow fast on 429/503, decay slowly on success, hard-capped."""
        with self._lock:
            state = self._state(domain)
            if status in (429, 503):
                grown = max(state.cooldown, _MIN_GROWTH_FROM) * self.factor
                state.cooldown = min(self.max_delay, max(grown, retry_after or 0.0))
                now = self._clock.monotonic()
                state.penalty_until = max(state.penalty_until, now + state.cooldown)
            elif 200 <= status < 400:
                state.cooldown = max(self.base_cooldown, state.cooldown * self.decay)

    def cooldown(self, domain: str) -> float:
        with self._lock:
            return self._state(domain).cooldown

    def in_flight(self, domain: str) -> int:
        with self._lock:
            return self._state(domain).in_flight

    def max_in_flight_seen(self, domain: str) -> int:
        with self._lock:
            return self._state(domain).max_in_flight_seen

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per domain: cooldown, in_flight, waiting, seconds until the next start may begin."""
        with self._lock:
            now = self._clock.monotonic()
            return {d: {"cooldown": s.cooldown, "in_flight": s.in_flight, "waiting": s.waiting,
                        "ready_in": max(0.0, s.ready_at() - now)} for d, s in self._domains.items()}


@dataclass
class Limits:
    """The one bundle of limiters per process, handed to every runner (never per batch)."""

    domains: DomainLimiter = field(default_factory=DomainLimiter)
    providers: ProviderLimiter = field(default_factory=ProviderLimiter)

    def configure(self, *, domain_concurrency: int, domain_cooldown: float, provider_rate_per_minute: float) -> None:
        """Adopt a batch's limits (its settings snapshot). The limiters stay shared: one set per process."""
        with self.domains._lock:
            self.domains.concurrency = domain_concurrency
            self.domains.base_cooldown = domain_cooldown
            self.domains.max_delay = max(self.domains.max_delay, domain_cooldown)
            for state in self.domains._domains.values():
                state.cooldown = max(state.cooldown, domain_cooldown)
        with self.providers._lock:
            if provider_rate_per_minute != self.providers.rate_per_minute:
                self.providers.rate_per_minute = provider_rate_per_minute
                self.providers._buckets.clear()  # new buckets at the new rate
