"""Limiters on fake time; real threads only where concurrency or promptness is the point."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.errors import IndexLabError
from engine.core.limits import (
    Cancelled,
    CancelToken,
    DeadlineExceeded,
    DomainLimiter,
    FakeClock,
    Limits,
    ProviderLimiter,
    SystemClock,
    TokenBucket,
    backoff_delay,
    parse_retry_after,
)
from tests.support.limits import Outcome, TopOfRangeRng

DOMAIN = "example.com"


# --- backoff -------------------------------------------------------------------------------


def test_backoff_ceiling_doubles_per_attempt_until_cap() -> None:
    rng = TopOfRangeRng()
    delays = [backoff_delay(n, base=1.0, cap=60.0, rng=rng) for n in range(1, 9)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60]


def test_backoff_stays_at_cap_for_huge_attempts() -> None:
    assert backoff_delay(10_000, base=1.0, cap=60.0, rng=TopOfRangeRng()) == 60.0


def test_backoff_full_jitter_covers_zero_to_ceiling() -> None:
    rng = random.Random(42)
    samples = [backoff_delay(4, base=1.0, cap=60.0, rng=rng) for _ in range(2_000)]
    assert all(0.0 <= s <= 8.0 for s in samples)
    assert min(samples) < 0.5 and max(samples) > 7.5


def test_backoff_is_reproducible_with_a_seeded_rng() -> None:
    first = [backoff_delay(3, 1.0, 60.0, random.Random(7)) for _ in range(3)]
    assert len(set(first)) == 1


@given(st.integers(1, 5_000), st.floats(0, 100), st.floats(0, 1_000), st.integers(0, 2**32))
def test_backoff_never_leaves_zero_to_cap(attempt: int, base: float, cap: float, seed: int) -> None:
    assert 0.0 <= backoff_delay(attempt, base, cap, random.Random(seed)) <= cap


def test_backoff_rejects_attempt_zero() -> None:
    with pytest.raises(ValueError, match="from 1"):
        backoff_delay(0, 1.0, 60.0, random.Random(0))


# --- Retry-After ---------------------------------------------------------------------------

NOW = datetime(2015, 10, 21, 7, 27, 30, tzinfo=UTC)


@pytest.mark.parametrize(("header", "seconds"), [("120", 120.0), (" 7 ", 7.0), ("0", 0.0), ("1.5", 1.5)])
def test_retry_after_delta_seconds(header: str, seconds: float) -> None:
    assert parse_retry_after(header) == seconds


def test_retry_after_http_date_is_seconds_from_now() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=NOW) == 30.0


def test_retry_after_http_date_in_the_past_is_zero() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now=NOW) == 0.0


def test_retry_after_naive_now_is_taken_as_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=naive) == 30.0


@pytest.mark.parametrize("header", [None, "", "   ", "soon", "-5", "12s", "Wed, 99 Foo 2015", "nan", "inf"])
def test_retry_after_absent_garbage_or_negative_is_none(header: str | None) -> None:
    assert parse_retry_after(header, now=NOW) is None


@given(st.text(max_size=40))
def test_retry_after_is_never_negative(header: str) -> None:
    result = parse_retry_after(header, now=NOW)
    assert result is None or result >= 0.0


def test_retry_after_default_now_is_the_current_time() -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    seconds = parse_retry_after(soon.strftime("%a, %d %b %Y %H:%M:%S GMT"))
    assert seconds is not None and 3_500 < seconds <= 3_600


# --- cancel token and clocks ---------------------------------------------------------------


def test_cancel_token_raises_cancelled_with_its_reason() -> None:
    token = CancelToken()
    token.raise_if_cancelled()
    token.set("force stop")
    assert token.is_set() and token.reason == "force stop" and token.wait(0)
    with pytest.raises(Cancelled, match="force stop"):
        token.raise_if_cancelled()


def test_cancel_token_keeps_the_first_reason() -> None:
    token = CancelToken()
    token.set("force stop")
    token.set("later")
    assert token.reason == "force stop"


def test_cancel_token_past_deadline_raises_deadline_exceeded() -> None:
    clock = FakeClock()
    token = CancelToken(deadline=10.0, clock=clock)
    clock.advance(9.9)
    token.raise_if_cancelled()
    clock.advance(0.1)
    with pytest.raises(DeadlineExceeded, match="max_run_seconds"):
        token.raise_if_cancelled()
    assert not token.is_set()


def test_deadline_exceeded_is_a_cancelled_indexlab_error() -> None:
    assert issubclass(DeadlineExceeded, Cancelled) and issubclass(Cancelled, IndexLabError)


def test_fake_clock_sleep_advances_time_and_records_it() -> None:
    clock = FakeClock(start=100.0)
    clock.sleep(2.5)
    clock.advance(1.0)
    assert clock.monotonic() == 103.5 and clock.sleeps == [2.5]


def test_fake_clock_sleep_stops_at_the_deadline() -> None:
    clock = FakeClock()
    clock.sleep(60.0, CancelToken(deadline=4.0, clock=clock))
    assert clock.monotonic() == 4.0


def test_fake_clock_sleep_returns_at_once_when_cancelled() -> None:
    clock, token = FakeClock(), CancelToken()
    token.set()
    clock.sleep(60.0, token)
    assert clock.monotonic() == 0.0


def test_system_clock_sleep_wakes_when_cancelled() -> None:
    token = CancelToken()
    sleeper = Outcome(lambda: SystemClock().sleep(60.0, token))
    token.set("force stop")
    assert sleeper.done.wait(2.0)


# --- token bucket --------------------------------------------------------------------------


def test_token_bucket_spaces_acquires_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=1, clock=clock)
    for _ in range(5):
        bucket.acquire()
    assert clock.monotonic() == pytest.approx(2.0)
    assert clock.sleeps == pytest.approx([0.5] * 4)


def test_token_bucket_burst_is_free_then_rate_limited() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, burst=3, clock=clock)
    for _ in range(3):
        bucket.acquire()
    assert clock.monotonic() == 0.0
    bucket.acquire()
    assert clock.monotonic() == pytest.approx(1.0)


def test_token_bucket_try_acquire_refuses_until_refilled() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=0.5, burst=1, clock=clock)
    assert bucket.try_acquire()
    assert not bucket.try_acquire()
    clock.advance(2.0)
    assert bucket.try_acquire()


def test_token_bucket_refuses_more_tokens_than_its_burst() -> None:
    with pytest.raises(ValueError, match="bucket of 2"):
        TokenBucket(rate=1.0, burst=2, clock=FakeClock()).acquire(3)


# --- provider limiter ----------------------------------------------------------------------


def test_provider_rate_per_minute_spaces_calls_after_the_burst() -> None:
    clock = FakeClock()
    providers = ProviderLimiter(rate_per_minute=60, burst=3, clock=clock)
    for _ in range(10):
        providers.acquire("openai")
    assert clock.monotonic() == pytest.approx(7.0)


def test_provider_honours_retry_after() -> None:
    clock = FakeClock()
    providers = ProviderLimiter(clock=clock, rng=random.Random(1))
    assert providers.report_rate_limited("openai", retry_after=30.0) == 30.0
    providers.acquire("openai")
    assert clock.monotonic() == pytest.approx(30.0)


def test_provider_backoff_grows_on_consecutive_429s_and_resets_on_success() -> None:
    providers = ProviderLimiter(backoff_base=1.0, backoff_cap=60.0, clock=FakeClock(), rng=TopOfRangeRng())
    grown = [providers.report_rate_limited("openai", retry_after=0.5) for _ in range(4)]
    providers.report_success("openai")
    assert grown == [1.0, 2.0, 4.0, 8.0]
    assert providers.report_rate_limited("openai", None) == 1.0


def test_provider_backoff_is_capped() -> None:
    providers = ProviderLimiter(backoff_base=1.0, backoff_cap=5.0, clock=FakeClock(), rng=TopOfRangeRng())
    assert max(providers.report_rate_limited("openai", None) for _ in range(10)) == 5.0


def test_providers_are_limited_independently() -> None:
    clock = FakeClock()
    providers = ProviderLimiter(clock=clock, rng=random.Random(1))
    providers.report_rate_limited("openai", retry_after=30.0)
    providers.acquire("anthropic")
    assert clock.monotonic() == 0.0


# --- the bundle ----------------------------------------------------------------------------


def test_limits_bundle_carries_one_domain_and_one_provider_limiter() -> None:
    limits = Limits()
    assert isinstance(limits.domains, DomainLimiter) and isinstance(limits.providers, ProviderLimiter)


def test_limits_adopt_a_batch_settings_snapshot():
    from engine.core.limits import Limits

    limits = Limits()
    limits.configure(domain_concurrency=5, domain_cooldown=3.0, provider_rate_per_minute=120.0)
    assert (limits.domains.concurrency, limits.domains.base_cooldown) == (5, 3.0)
    assert limits.domains.cooldown("example.com") == 3.0 and limits.providers.rate_per_minute == 120.0
