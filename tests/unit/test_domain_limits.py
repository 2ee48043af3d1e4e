"""The domain limiter on fake time (cooldown after 429/503, spacing, decay) and with real threads (the concurrency
cap, waking waiters), and how cancel and deadlines end every kind of wait."""

from __future__ import annotations

import random
import threading
import time

import pytest

from engine.core.limits import (
    Cancelled,
    CancelToken,
    DeadlineExceeded,
    DomainLimiter,
    FakeClock,
    ProviderLimiter,
    TokenBucket,
)
from tests.support.limits import Outcome, SignallingClock
from tests.support.polling import wait_until

DOMAIN = "example.com"


# --- domain limiter: cooldown --------------------------------------------------------------


def test_domain_cooldown_grows_multiplicatively_on_429_and_503() -> None:
    domains = DomainLimiter(base_cooldown=1.0, factor=2.0, clock=FakeClock())
    domains.report(DOMAIN, 429, None)
    assert domains.cooldown(DOMAIN) == 2.0
    domains.report(DOMAIN, 503, None)
    assert domains.cooldown(DOMAIN) == 4.0


def test_domain_cooldown_is_at_least_retry_after() -> None:
    domains = DomainLimiter(base_cooldown=1.0, clock=FakeClock())
    domains.report(DOMAIN, 429, retry_after=10.0)
    assert domains.cooldown(DOMAIN) == 10.0


def test_domain_retry_after_delays_the_next_start_from_the_report() -> None:
    clock = FakeClock()
    domains = DomainLimiter(base_cooldown=1.0, clock=clock)
    with domains.slot(DOMAIN):
        clock.advance(5.0)
        domains.report(DOMAIN, 429, retry_after=10.0)
    with domains.slot(DOMAIN):
        assert clock.monotonic() == pytest.approx(15.0)


def test_domain_cooldown_has_a_hard_cap() -> None:
    domains = DomainLimiter(base_cooldown=1.0, max_delay=60.0, clock=FakeClock())
    for _ in range(20):
        domains.report(DOMAIN, 429, None)
    assert domains.cooldown(DOMAIN) == 60.0
    domains.report(DOMAIN, 503, retry_after=3_600.0)
    assert domains.cooldown(DOMAIN) == 60.0


def test_domain_cooldown_decays_slowly_on_success() -> None:
    domains = DomainLimiter(base_cooldown=1.0, decay=0.9, clock=FakeClock())
    for _ in range(3):
        domains.report(DOMAIN, 429, None)
    domains.report(DOMAIN, 200, None)
    assert domains.cooldown(DOMAIN) == pytest.approx(7.2)


def test_domain_cooldown_never_decays_below_base() -> None:
    domains = DomainLimiter(base_cooldown=1.0, clock=FakeClock())
    domains.report(DOMAIN, 429, None)
    for _ in range(100):
        domains.report(DOMAIN, 200, None)
    assert domains.cooldown(DOMAIN) == 1.0


def test_domain_other_errors_leave_the_cooldown_alone() -> None:
    domains = DomainLimiter(base_cooldown=1.0, clock=FakeClock())
    domains.report(DOMAIN, 429, None)
    domains.report(DOMAIN, 404, None)
    domains.report(DOMAIN, 500, None)
    assert domains.cooldown(DOMAIN) == 2.0


def test_domain_429_backs_off_even_with_zero_base_cooldown() -> None:
    domains = DomainLimiter(base_cooldown=0.0, clock=FakeClock())
    domains.report(DOMAIN, 429, None)
    assert domains.cooldown(DOMAIN) > 0.0


def test_domain_cooldown_spaces_request_starts() -> None:
    clock = FakeClock()
    domains = DomainLimiter(concurrency=2, base_cooldown=1.5, clock=clock)
    starts = []
    for _ in range(4):
        with domains.slot(DOMAIN):
            starts.append(clock.monotonic())
    assert starts == pytest.approx([0.0, 1.5, 3.0, 4.5])


def test_domain_cooldown_counts_from_the_last_start_not_the_end() -> None:
    clock = FakeClock()
    domains = DomainLimiter(base_cooldown=1.0, clock=clock)
    with domains.slot(DOMAIN):
        clock.advance(3.0)  # a slow request outlasts the cooldown
    with domains.slot(DOMAIN):
        assert clock.monotonic() == 3.0


def test_domain_names_are_case_insensitive() -> None:
    domains = DomainLimiter(clock=FakeClock())
    domains.report("Example.COM", 429, None)
    assert domains.cooldown(DOMAIN) == 2.0


def test_domain_slot_is_released_when_the_request_raises() -> None:
    domains = DomainLimiter(clock=FakeClock())
    with pytest.raises(RuntimeError), domains.slot(DOMAIN):
        raise RuntimeError("fetch failed")
    assert domains.in_flight(DOMAIN) == 0


def test_domain_snapshot_reports_cooldown_and_in_flight() -> None:
    domains = DomainLimiter(base_cooldown=1.0, clock=FakeClock())
    with domains.slot(DOMAIN):
        snap = domains.snapshot()
    assert snap == {DOMAIN: {"cooldown": 1.0, "in_flight": 1, "waiting": 0, "ready_in": 1.0}}


# --- domain limiter: concurrency (real threads) --------------------------------------------


def test_domain_concurrency_cap_holds_under_eight_threads() -> None:
    domains = DomainLimiter(concurrency=2, base_cooldown=0.0)
    gate, lock = threading.Event(), threading.Lock()
    inside = [0, 0]  # now, peak (measured by the workers, independent of the limiter)

    def worker() -> None:
        for i in range(50):
            with domains.slot(DOMAIN):
                with lock:
                    inside[0] += 1
                    inside[1] = max(inside)
                if i == 0:
                    gate.wait(5.0)  # hold the first slots until the other six queue up
                with lock:
                    inside[0] -= 1

    workers = [Outcome(worker) for _ in range(8)]
    wait_until(lambda: domains.snapshot()[DOMAIN]["waiting"] == 6)
    assert domains.in_flight(DOMAIN) == 2
    gate.set()
    wait_until(lambda: all(w.done.is_set() for w in workers), timeout=10.0)
    assert [w.error for w in workers] == [None] * 8
    assert domains.max_in_flight_seen(DOMAIN) == 2 and inside[1] == 2
    assert domains.in_flight(DOMAIN) == 0


def test_slot_waiter_is_woken_when_a_slot_frees(monkeypatch: pytest.MonkeyPatch) -> None:
    """The release notifies: with the cancel poll made huge, only a wake-up can let it in."""
    monkeypatch.setattr("engine.core.limits._POLL", 60.0)
    domains = DomainLimiter(concurrency=1, base_cooldown=0.0)
    entered = threading.Event()

    def waiter() -> None:
        with domains.slot(DOMAIN):
            entered.set()

    with domains.slot(DOMAIN):
        outcome = Outcome(waiter)
        wait_until(lambda: domains.snapshot()[DOMAIN]["waiting"] == 1)
    assert entered.wait(5.0) and outcome.done.wait(5.0) and outcome.error is None


def test_domains_have_independent_slots() -> None:
    domains = DomainLimiter(concurrency=1, base_cooldown=0.0, clock=FakeClock())
    guard = CancelToken(deadline=time.monotonic() + 5.0)  # fail, don't hang, if b waits on a
    with domains.slot("a.example"), domains.slot("b.example", guard):
        assert domains.in_flight("a.example") == 1 and domains.in_flight("b.example") == 1


# --- cancel and deadline -------------------------------------------------------------------


def test_cancel_wakes_a_slot_waiter_promptly() -> None:
    domains = DomainLimiter(concurrency=1, base_cooldown=0.0)
    token = CancelToken()
    with domains.slot(DOMAIN):
        waiter = Outcome(lambda: domains.slot(DOMAIN, token).__enter__())
        wait_until(lambda: domains.snapshot()[DOMAIN]["waiting"] == 1)
        token.set("force stop")
        assert waiter.done.wait(2.0)
    assert isinstance(waiter.error, Cancelled)
    assert domains.in_flight(DOMAIN) == 0


def test_cancel_wakes_a_cooldown_waiter_promptly() -> None:
    clock = SignallingClock()
    domains = DomainLimiter(base_cooldown=1_000.0, max_delay=1_000.0, clock=clock)
    with domains.slot(DOMAIN):
        pass
    token = CancelToken()
    waiter = Outcome(lambda: domains.slot(DOMAIN, token).__enter__())
    assert clock.sleeping.wait(5.0)
    token.set("force stop")
    assert waiter.done.wait(2.0) and isinstance(waiter.error, Cancelled)


def test_cancel_wakes_a_token_bucket_waiter_promptly() -> None:
    clock = SignallingClock()
    bucket = TokenBucket(rate=0.001, burst=1, clock=clock)
    bucket.acquire()
    token = CancelToken()
    waiter = Outcome(lambda: bucket.acquire(1, token))
    assert clock.sleeping.wait(5.0)
    token.set("force stop")
    assert waiter.done.wait(2.0) and isinstance(waiter.error, Cancelled)


def test_cancel_wakes_a_rate_limited_provider_waiter_promptly() -> None:
    clock = SignallingClock()
    providers = ProviderLimiter(clock=clock)
    providers.report_rate_limited("openai", retry_after=1_000.0)
    token = CancelToken()
    waiter = Outcome(lambda: providers.acquire("openai", token))
    assert clock.sleeping.wait(5.0)
    token.set("force stop")
    assert waiter.done.wait(2.0) and isinstance(waiter.error, Cancelled)


def test_cancelled_token_takes_no_slot_and_no_time() -> None:
    clock, token = FakeClock(), CancelToken()
    token.set()
    domains = DomainLimiter(clock=clock)
    with pytest.raises(Cancelled), domains.slot(DOMAIN, token):
        pass
    assert domains.in_flight(DOMAIN) == 0 and clock.monotonic() == 0.0


def test_deadline_stops_a_cooldown_wait_at_the_deadline() -> None:
    clock = FakeClock()
    domains = DomainLimiter(base_cooldown=10.0, clock=clock)
    with domains.slot(DOMAIN):
        pass
    with pytest.raises(DeadlineExceeded), domains.slot(DOMAIN, CancelToken(deadline=5.0, clock=clock)):
        pass
    assert clock.monotonic() == 5.0 and domains.in_flight(DOMAIN) == 0


def test_deadline_stops_a_token_bucket_wait() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=0.1, burst=1, clock=clock)
    bucket.acquire()
    with pytest.raises(DeadlineExceeded):
        bucket.acquire(1, CancelToken(deadline=3.0, clock=clock))
    assert clock.monotonic() == 3.0


def test_deadline_stops_a_rate_limited_provider_wait() -> None:
    clock = FakeClock()
    providers = ProviderLimiter(clock=clock, rng=random.Random(1))
    providers.report_rate_limited("openai", retry_after=100.0)
    with pytest.raises(DeadlineExceeded):
        providers.acquire("openai", CancelToken(deadline=3.0, clock=clock))
    assert clock.monotonic() == 3.0


def test_deadline_stops_a_slot_wait_when_time_moves_on() -> None:
    clock = FakeClock()
    domains = DomainLimiter(concurrency=1, base_cooldown=0.0, clock=clock)
    token = CancelToken(deadline=5.0, clock=clock)
    with domains.slot(DOMAIN):
        waiter = Outcome(lambda: domains.slot(DOMAIN, token).__enter__())
        wait_until(lambda: domains.snapshot()[DOMAIN]["waiting"] == 1)
        clock.advance(5.0)
        assert waiter.done.wait(2.0)
    assert isinstance(waiter.error, DeadlineExceeded)
