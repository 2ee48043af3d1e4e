"""The cluster's one limiter (engine/dask/limits.py) on a real ``LocalCluster`` of two worker processes.

Jobs run on both workers' threads and reach one loopback HTTP server in this process, which records when each
request arrived and how many were in flight: the domain cap and cooldown hold across processes. Also the provider
bucket across workers, cancel and deadlines of a waiting slot, a 429 seen by every worker, a limiter that went away.
Timing is asserted only as the limiter's own spacing guarantees (lower bounds), from recorded events.
"""

from __future__ import annotations

import gc
import pickle
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dask
import distributed
import pytest

from engine.core.limits import Cancelled, CancelToken, FakeClock
from engine.dask.limits import LEASE_GRACE_S, ClusterLimits, LimitsHost, configure, start_limits
from engine.runners.base import RunnerError
from tests.support.polling import wait_until

HOST = "127.0.0.1"
HOLD_S = 0.05  # how long the loopback server holds each request
NOTE_S = 0.01  # a grant is noted a few instructions after it is made: spacing may look that much shorter


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    # No dashboard; the scheduler's HTTP routes on a free port, not 8787 (which another cluster may hold).
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True, host="127.0.0.1",
                                     dashboard_address=None, scheduler_kwargs={"dashboard": False}) as cluster, \
            distributed.Client(cluster) as client:
        client.wait_for_workers(2)
        yield client


def workers(client: Any) -> list[str]:
    return sorted(client.scheduler_info(n_workers=-1)["workers"])


def fresh_limits(client: Any, concurrency: int = 2, cooldown: float = 0.0, rate: float = 60.0) -> ClusterLimits:
    """A limiter of its own for one test (a fresh actor), wrapped as a worker sees it."""
    return ClusterLimits(start_limits(client, domain_concurrency=concurrency, domain_cooldown=cooldown,
                                      provider_rate_per_minute=rate))


class NotingHost(LimitsHost):
    """The real limiter, noting on the actor when it granted a slot or a token: the spacing it promises is checked
    on its own notes, free of the jitter between the actor, the workers and the site (one machine, one monotonic)."""

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        self.noted: dict[str, list[float]] = {}

    def _note(self, name: str, wait: float) -> float:
        if wait == 0.0:
            self.noted.setdefault(name, []).append(time.monotonic())
        return wait

    def try_enter(self, domain: str, lease: str, hold_s: float) -> float:
        return self._note(domain, super().try_enter(domain, lease, hold_s))

    def try_acquire(self, provider: str) -> float:
        return self._note(provider, super().try_acquire(provider))

    def grants(self, name: str) -> list[float]:
        return self.noted.get(name, [])


def noting_limits(client: Any, concurrency: int = 2, cooldown: float = 0.0, rate: float = 60.0) -> ClusterLimits:
    future = client.submit(NotingHost, domain_concurrency=concurrency, domain_cooldown=cooldown,
                           provider_rate_per_minute=rate, actor=True, key=f"noting-limits-{uuid.uuid4().hex}")
    with client.as_current():
        return ClusterLimits(future.result(timeout=30))


def grants(limits: ClusterLimits, name: str) -> list[float]:
    return limits.handle.grants(name).result(timeout=30)


@dataclass
class Loopback:
    url: str
    arrivals: list[tuple[float, int]] = field(default_factory=list)  # (monotonic arrival, in flight with it)


@contextmanager
def loopback_server() -> Iterator[Loopback]:
    """A tiny threaded HTTP server on 127.0.0.1 that holds each request HOLD_S and records its arrival."""
    lock = threading.Lock()
    in_flight = [0]
    record: Loopback

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                in_flight[0] += 1
                record.arrivals.append((time.monotonic(), in_flight[0]))
            time.sleep(HOLD_S)  # the site's own work
            with lock:
                in_flight[0] -= 1
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((HOST, 0), Handler)
    server.daemon_threads = True
    record = Loopback(f"http://{HOST}:{server.server_address[1]}/")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- jobs (run in the worker processes) ---------------------------------------------------------------


def fetch_job(limits: ClusterLimits, url: str) -> str:
    """A runner's request: through the cluster's slot for the domain, its status reported."""
    cancel = CancelToken(deadline=time.monotonic() + 60)
    with limits.domains.slot(HOST, cancel), urllib.request.urlopen(url, timeout=30) as response:
        response.read()
        limits.domains.report(HOST, response.status)
    return distributed.get_worker().address


def provider_job(limits: ClusterLimits, provider: str, calls: int) -> tuple[str, list[float]]:
    stamps = []
    for _ in range(calls):
        limits.providers.acquire(provider, CancelToken(deadline=time.monotonic() + 60))
        stamps.append(time.monotonic())
    return distributed.get_worker().address, stamps


def cancelled_waits(limits: ClusterLimits, domain: str) -> dict[str, Any]:
    """Wait for a slot of ``domain`` (held elsewhere, or penalized) until a deadline, then until a force stop."""
    seen: dict[str, Any] = {"before": limits.domains.in_flight(domain)}
    for name in ("deadline", "force stop"):
        began = time.monotonic()
        token = CancelToken(deadline=began + 0.3 if name == "deadline" else None)
        if name == "force stop":  # another thread of this worker stops the job while it waits
            threading.Timer(0.2, token.set, ("force stop",)).start()
        try:
            with limits.domains.slot(domain, token):
                seen[name] = "entered"
        except Cancelled as exc:
            seen[name] = type(exc).__name__
        seen[f"{name} waited"] = time.monotonic() - began
        seen[f"{name} before the cooldown's end"] = limits.domains.snapshot()[domain]["ready_in"] > 0
    seen["after"] = limits.domains.in_flight(domain)
    return seen


def cancelled_inside(limits: ClusterLimits, domain: str) -> tuple[str, int, int]:
    """Cancelled mid-request: the slot is given back as the job unwinds."""
    token = CancelToken()
    held = -1
    try:
        with limits.domains.slot(domain, token):
            held = limits.domains.in_flight(domain)
            token.set("force stop")
            token.raise_if_cancelled()
    except Cancelled as exc:
        return type(exc).__name__, held, limits.domains.in_flight(domain)
    return "not cancelled", held, limits.domains.in_flight(domain)


def report_429(limits: ClusterLimits, domain: str) -> tuple[str, float, float]:
    sent = time.monotonic()
    limits.domains.report(domain, 429, None)
    return distributed.get_worker().address, sent, limits.domains.cooldown(domain)


def enter_after_429(limits: ClusterLimits, domain: str) -> tuple[str, float, float]:
    cooldown = limits.domains.cooldown(domain)
    with limits.domains.slot(domain, CancelToken(deadline=time.monotonic() + 60)):
        began = time.monotonic()
    return distributed.get_worker().address, cooldown, began


def limiter_call(blob: bytes) -> tuple[str, bool]:
    try:
        pickle.loads(blob).domains.cooldown(HOST)
    except RunnerError as exc:
        return exc.message, exc.retryable
    return "answered", False


# --- domain: concurrency and cooldown across workers ------------------------------------------------------


def test_domain_cap_holds_across_worker_processes(client: Any) -> None:
    cluster_limits = fresh_limits(client, concurrency=2, cooldown=0.0)
    with loopback_server() as site:
        futures = [client.submit(fetch_job, cluster_limits, site.url, pure=False) for _ in range(12)]
        ran_on = client.gather(futures)
    assert len(set(ran_on)) >= 2, ran_on  # both worker processes ran jobs
    assert len(site.arrivals) == 12
    assert max(n for _, n in site.arrivals) <= 2, site.arrivals  # never more than the cap at the site
    assert cluster_limits.domains.max_in_flight_seen(HOST) == 2  # 4 threads wanted more: the cap was reached
    assert cluster_limits.domains.in_flight(HOST) == 0


def test_domain_cooldown_spaces_starts_across_worker_processes(client: Any) -> None:
    cooldown = 0.2
    cluster_limits = noting_limits(client, concurrency=2, cooldown=cooldown)
    with loopback_server() as site:
        ran_on = client.gather([client.submit(fetch_job, cluster_limits, site.url, pure=False) for _ in range(8)])
    assert len(set(ran_on)) >= 2, ran_on
    starts = grants(cluster_limits, HOST)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert len(starts) == 8 and min(gaps) >= cooldown - NOTE_S, gaps
    arrivals = sorted(at for at, _ in site.arrivals)  # every request reached the site after its grant:
    assert len(arrivals) == 8 and all(a >= g for a, g in zip(arrivals, starts)), (arrivals, starts)  # k-th after k-th
    assert max(n for _, n in site.arrivals) <= 2


# --- provider bucket across workers -------------------------------------------------------------------------


def test_provider_rate_holds_across_worker_processes(client: Any) -> None:
    rate_per_minute, burst = 600.0, 3  # 10 a second after a burst of 3 (ProviderLimiter's default)
    cluster_limits = noting_limits(client, rate=rate_per_minute)
    results = client.gather([client.submit(provider_job, cluster_limits, "llm", 5, pure=False) for _ in range(4)])
    assert len({address for address, _ in results}) >= 2, results
    taken_at = sorted(t for _, ts in results for t in ts)  # as the workers saw them: each after its grant
    noted = grants(cluster_limits, "llm")
    assert len(noted) == len(taken_at) == 20 and all(t >= g for t, g in zip(taken_at, noted))
    rate = rate_per_minute / 60.0
    for i in range(len(noted)):  # a token bucket's bound: any window [t_i, t_j] holds <= burst + rate * its length
        for j in range(i + burst, len(noted)):
            taken = j - i + 1
            assert noted[j] - noted[i] >= (taken - burst) / rate - NOTE_S, (i, j, noted[j] - noted[i])


# --- cancel and deadlines ----------------------------------------------------------------------------------


def test_a_cancelled_slot_waiter_raises_and_leaves_in_flight_alone(client: Any) -> None:
    cluster_limits = fresh_limits(client, concurrency=2, cooldown=0.0)
    leases = [uuid.uuid4().hex for _ in range(2)]
    for lease in leases:  # this process holds the domain's two slots
        assert cluster_limits.call("try_enter", "busy.test", lease, 60.0) == 0.0
    seen = client.submit(cancelled_waits, cluster_limits, "busy.test", pure=False).result()
    assert seen.pop("deadline waited") >= 0.3 and seen.pop("force stop waited") >= 0.2  # it did wait, then stopped
    assert seen == {"before": 2, "deadline": "DeadlineExceeded", "force stop": "Cancelled", "after": 2,
                    "deadline before the cooldown's end": False, "force stop before the cooldown's end": False}
    assert [cluster_limits.call("release", lease) for lease in leases] == [True, True]
    assert cluster_limits.domains.in_flight("busy.test") == 0

    cluster_limits.domains.report("penalized.test", 429, 60.0)  # a cooldown wait, not a slot wait, is cut short too
    seen = client.submit(cancelled_waits, cluster_limits, "penalized.test", pure=False).result()
    assert seen.pop("deadline waited") >= 0.3 and seen.pop("force stop waited") >= 0.2
    assert seen == {"before": 0, "deadline": "DeadlineExceeded", "force stop": "Cancelled", "after": 0,
                    "deadline before the cooldown's end": True, "force stop before the cooldown's end": True}


def test_a_slot_is_given_back_when_its_job_is_cancelled_mid_request(client: Any) -> None:
    cluster_limits = fresh_limits(client)
    assert client.submit(cancelled_inside, cluster_limits, "mid.test", pure=False).result() == ("Cancelled", 1, 0)


# --- 429 seen by every worker ---------------------------------------------------------------------------------


def test_a_429_on_one_worker_slows_the_others(client: Any) -> None:
    first, second = workers(client)[:2]
    cluster_limits = fresh_limits(client, concurrency=2, cooldown=0.2)
    reporter, sent, grown = client.submit(report_429, cluster_limits, "slow.test", workers=[first],
                                          pure=False).result()
    assert grown == pytest.approx(0.5)  # max(0.2, 0.25) * 2
    other, seen, began = client.submit(enter_after_429, cluster_limits, "slow.test", workers=[second],
                                       pure=False).result()
    assert (reporter, other) == (first, second)
    assert seen == grown
    assert began - sent >= grown  # one machine: the processes share CLOCK_MONOTONIC


# --- the limiter's life ----------------------------------------------------------------------------------------


def test_the_handle_keeps_the_limiter_alive_on_a_client_that_is_not_the_default(client: Any) -> None:
    with distributed.Client(client.scheduler.address, set_as_default=False) as other:
        handle = start_limits(other, domain_concurrency=1, domain_cooldown=0.0, provider_rate_per_minute=60.0)
        gc.collect()
        configure(handle, domain_concurrency=3, domain_cooldown=0.5, provider_rate_per_minute=60.0)
        assert ClusterLimits(handle).domains.cooldown("x.test") == 0.5
        assert other.submit(limiter_call, pickle.dumps(ClusterLimits(handle)), pure=False).result() == ("answered",
                                                                                                        False)


def test_a_limiter_that_went_away_fails_the_call_as_retryable(client: Any) -> None:
    handle = start_limits(client, domain_concurrency=1, domain_cooldown=0.0, provider_rate_per_minute=60.0)
    key = handle.key
    blob = pickle.dumps(ClusterLimits(handle, timeout=1.0))
    del handle
    gc.collect()
    wait_until(lambda: not client.run_on_scheduler(lambda dask_scheduler: key in dask_scheduler.tasks))
    message, retryable = client.submit(limiter_call, blob, pure=False).result()
    assert "the cluster's limiter is unreachable" in message and retryable


def test_a_slot_never_given_back_returns_after_its_lease() -> None:
    clock = FakeClock()
    host = LimitsHost(domain_concurrency=1, domain_cooldown=0.0, provider_rate_per_minute=60.0, clock=clock)
    assert host.try_enter("a.test", "dead-worker", 10.0 + LEASE_GRACE_S) == 0.0
    assert host.try_enter("a.test", "waiter", 10.0) > 0.0
    clock.advance(10.0 + LEASE_GRACE_S)
    assert host.try_enter("a.test", "waiter", 10.0) == 0.0
    assert host.in_flight("a.test") == 1
    assert host.release("dead-worker") is False  # a late release is harmless
    assert host.release("waiter") is True and host.release("waiter") is False
    assert host.in_flight("a.test") == 0
