"""The limiters' non-blocking calls (``DomainLimiter.try_enter``/``release``, ``ProviderLimiter.try_acquire_wait``),
which a limiter living in one place (the Dask actor, engine/dask/limits.py) answers while its callers wait."""

from __future__ import annotations

import threading

import pytest

from engine.core.limits import DomainLimiter, FakeClock, ProviderLimiter
from tests.support.limits import Outcome
from tests.support.polling import wait_until

DOMAIN = "example.com"


# --- DomainLimiter.try_enter / release -------------------------------------------------------


def test_try_enter_grants_a_free_slot_and_release_gives_it_back() -> None:
    domains = DomainLimiter(concurrency=2, base_cooldown=0.0, clock=FakeClock())
    assert domains.try_enter(DOMAIN) == 0.0
    assert domains.try_enter(DOMAIN) == 0.0
    assert domains.in_flight(DOMAIN) == 2 and domains.max_in_flight_seen(DOMAIN) == 2
    domains.release(DOMAIN)
    domains.release(DOMAIN)
    assert domains.in_flight(DOMAIN) == 0


def test_try_enter_at_the_cap_returns_the_poll_and_takes_nothing() -> None:
    clock = FakeClock()
    domains = DomainLimiter(concurrency=1, base_cooldown=0.0, clock=clock)
    assert domains.try_enter(DOMAIN) == 0.0
    assert domains.try_enter(DOMAIN, poll=0.2) == 0.2
    assert domains.try_enter(DOMAIN) > 0.0  # the default poll
    assert domains.in_flight(DOMAIN) == 1 and domains.max_in_flight_seen(DOMAIN) == 1
    assert clock.sleeps == []  # never waits itself


def test_try_enter_returns_the_rest_of_the_cooldown() -> None:
    clock = FakeClock()
    domains = DomainLimiter(concurrency=2, base_cooldown=1.5, clock=clock)
    assert domains.try_enter(DOMAIN) == 0.0
    clock.advance(0.5)
    assert domains.try_enter(DOMAIN) == pytest.approx(1.0)
    assert domains.in_flight(DOMAIN) == 1
    clock.advance(1.0)
    assert domains.try_enter(DOMAIN) == 0.0
    assert domains.snapshot()[DOMAIN] == {"cooldown": 1.5, "in_flight": 2, "waiting": 0, "ready_in": 1.5}


def test_try_enter_waits_out_a_429_penalty() -> None:
    clock = FakeClock()
    domains = DomainLimiter(base_cooldown=0.0, clock=clock)
    domains.report(DOMAIN, 429, retry_after=10.0)
    assert domains.try_enter(DOMAIN) == pytest.approx(10.0)
    clock.advance(10.0)
    assert domains.try_enter(DOMAIN) == 0.0


def test_try_enter_and_slot_share_the_cap() -> None:
    domains = DomainLimiter(concurrency=1, base_cooldown=0.0, clock=FakeClock())
    with domains.slot(DOMAIN):
        assert domains.try_enter(DOMAIN, poll=0.1) == 0.1
    assert domains.try_enter(DOMAIN) == 0.0
    domains.release(DOMAIN)
    assert domains.in_flight(DOMAIN) == 0


def test_release_wakes_a_blocked_slot_waiter() -> None:
    domains = DomainLimiter(concurrency=1, base_cooldown=0.0)
    assert domains.try_enter(DOMAIN) == 0.0
    entered = threading.Event()

    def waiter() -> None:
        with domains.slot(DOMAIN):
            entered.set()

    outcome = Outcome(waiter)
    wait_until(lambda: domains.snapshot()[DOMAIN]["waiting"] == 1)
    assert not entered.is_set()
    domains.release(DOMAIN)
    wait_until(outcome.done.is_set)
    assert outcome.error is None and entered.is_set() and domains.in_flight(DOMAIN) == 0


# --- ProviderLimiter.try_acquire_wait --------------------------------------------------------


def test_try_acquire_wait_takes_the_burst_then_says_when_a_token_comes() -> None:
    clock = FakeClock()
    providers = ProviderLimiter(rate_per_minute=60.0, burst=3, clock=clock)
    assert [providers.try_acquire_wait("p") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert providers.try_acquire_wait("p") == pytest.approx(1.0)
    clock.advance(0.25)
    assert providers.try_acquire_wait("p") == pytest.approx(0.75)
    clock.advance(0.75)
    assert providers.try_acquire_wait("p") == 0.0
    assert providers.try_acquire_wait("other") == 0.0  # buckets are per provider
    assert clock.sleeps == []


def test_try_acquire_wait_during_a_429_block_returns_its_rest_and_keeps_the_tokens() -> None:
    clock = FakeClock()
    providers = ProviderLimiter(rate_per_minute=60.0, burst=2, backoff_base=1.0, clock=clock)
    assert providers.report_rate_limited("p", retry_after=5.0) == 5.0
    assert providers.try_acquire_wait("p") == pytest.approx(5.0)
    clock.advance(2.0)
    assert providers.try_acquire_wait("p") == pytest.approx(3.0)
    clock.advance(3.0)
    assert [providers.try_acquire_wait("p") for _ in range(2)] == [0.0, 0.0]  # the block took no token
    assert providers.try_acquire_wait("p") > 0.0
