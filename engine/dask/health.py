"""The Dask executor's watch over its cluster (part of DaskCluster, engine/dask/executor.py): what the status shows of
it, the scheduler coming back after it went away (a new client when the old one gave up; then the engine resumes the
batches it paused), and the cluster's limiter (engine/dask/limits.py) configured, and started again when the worker
holding it is lost (looked at after a worker died under a chunk, and every LIMITER_PROBE_S)."""

from __future__ import annotations

import logging
import time
from typing import Any

from engine.dask.worker import TOPIC

log = logging.getLogger("indexlab.dask")

MONITOR_S = 1.0  # how often the monitor looks at the cluster
LIMITER_PROBE_S = 5.0  # how often it asks the cluster's limiter whether it is there, with nothing to say otherwise


class ClusterHealth:
    """The monitor thread's work, and the cluster's account for the status."""

    def configure_limits(self, **values: float) -> None:
        """The engine's shared limits changed (the strictest of its running batches): the cluster's limiter follows,
        set by the relay thread (a call to the cluster must not hold up the engine's lock)."""
        self._wanted_limits = dict(values)

    def _apply_limits(self) -> None:
        wanted = self._wanted_limits
        if wanted and wanted != self.limit_values and self.limits is not None:
            try:
                from engine.dask.limits import configure

                configure(self.limits, **wanted)
                self.limit_values = wanted
            except Exception as exc:
                log.warning("could not configure the cluster's limiter: %s", exc)
                self._limiter_gone.set()  # the monitor looks, and starts another if it is gone

    def _limiter_answers(self) -> bool:
        try:
            self.limits.cooldown("indexlab-probe").result(timeout=MONITOR_S)
        except Exception:
            return False
        self._limiter_gone.clear()
        return True

    def _restart_limiter(self) -> None:
        """The worker holding the limiter died: start another (what it held is gone: leases, cooldowns); the chunks
        sent from now on carry it, and runners still holding the old one fail their attempt, retryable."""
        from engine.dask.limits import configure, start_limits

        try:
            limits = start_limits(self.client, domain_concurrency=2, domain_cooldown=1.0, provider_rate_per_minute=60.0)
            if self._wanted_limits:
                configure(limits, **self._wanted_limits)
        except Exception as exc:
            log.warning("the cluster's limiter could not start again yet: %s", exc)
            return
        self.limits, self.limit_values = limits, dict(self._wanted_limits)
        self._limiter_gone.clear()
        log.warning("the cluster's limiter started again (its worker was lost)")

    def worker_threads(self) -> int:
        """Threads over all the cluster's workers now (0 when the scheduler does not answer)."""
        try:
            return sum(w.get("nthreads", 0) for w in self.client.scheduler_info(n_workers=-1)["workers"].values())
        except Exception:
            return 0

    def _where(self) -> str:
        return self.address or getattr(self.client.scheduler, "address", None) or "(unknown)"

    def _answers(self) -> bool:
        try:
            self.client.scheduler_info()
            return self.client.status == "running"
        except Exception:
            return False

    def _monitor_loop(self) -> None:
        """After the scheduler went away: reconnect (a new client when the old one gave up) and tell the engine."""
        next_probe = time.monotonic() + LIMITER_PROBE_S
        while not self._closed.wait(MONITOR_S):
            self._read_info()
            # The limiter's worker may die with no chunk of ours on it (no KilledWorker tells), or the scheduler may
            # restart before a chunk fails: the monitor asks the limiter now and then, not only when told to look.
            if not self._gone.is_set() and self.limits is not None and (
                    self._limiter_gone.is_set() or time.monotonic() >= next_probe):
                next_probe = time.monotonic() + LIMITER_PROBE_S
                if not self._limiter_answers():
                    self._restart_limiter()
            if not self._gone.is_set():
                continue
            if self.client.status in ("closed", "failed", "closing") and self.address is not None:
                self._reconnect()
            if self._answers():
                self._gone.clear()
                log.warning("the Dask scheduler at %s answers again", self.address or "the local cluster")
                if self._on_back is not None:
                    try:
                        self._on_back()
                    except Exception:
                        log.exception("resuming after the scheduler came back failed")

    def _reconnect(self) -> None:
        from distributed import Client

        from engine.dask.limits import configure, start_limits

        try:
            client = Client(self.address, timeout=MONITOR_S)
        except Exception as exc:
            log.info("the Dask scheduler at %s does not answer yet: %s", self.address, exc)
            return
        client.subscribe_topic(TOPIC, self._events.put)
        try:
            limits = start_limits(client, domain_concurrency=2, domain_cooldown=1.0, provider_rate_per_minute=60.0)
            if self.limit_values:
                configure(limits, **self.limit_values)
        except Exception as exc:
            log.warning("the cluster's limiter could not start again: %s", exc)
            client.close()
            return
        old, self.client, self.limits = self.client, client, limits
        try:
            old.close()
        except Exception:
            pass

    def info(self) -> dict[str, Any]:
        """What the status and the dashboard show: the executor, its scheduler, workers and Dask dashboard link (as
        the monitor thread last read them: a status read makes no call to the cluster)."""
        return self._info or self._read_info()

    def _read_info(self) -> dict[str, Any]:
        try:
            scheduler = self.client.scheduler_info(n_workers=-1)
            workers = scheduler.get("workers", {})
            link = self.client.dashboard_link if scheduler.get("services", {}).get("dashboard") else None
        except Exception:
            workers, link = {}, None
        self._info = {"executor": "dask", "scheduler": self.address or getattr(self.client.scheduler, "address", None),
                      "status": self.client.status if workers or self._answers() else "unreachable",
                      "local_cluster": self.cluster is not None, "workers": len(workers),
                      "worker_threads": sum(w.get("nthreads", 0) for w in workers.values()), "dashboard_link": link}
        return self._info
