"""Connecting the engine to a Dask cluster (docs/scale-out.md): a scheduler's address, or a ``LocalCluster`` of
worker processes started here when there is none, so a user can try the Dask executor on one machine."""

from __future__ import annotations

import logging
from typing import Any

from engine.core.errors import IndexLabError

log = logging.getLogger("indexlab.dask")

CONNECT_TIMEOUT_S = 10.0


class ClusterUnavailable(IndexLabError):
    """The Dask executor was asked for and cannot be had: ``distributed`` is not installed, or no scheduler answers."""

    code = "cluster_unavailable"


def cluster_config() -> dict[str, Any]:
    """What IndexLab needs of a scheduler: a task whose worker dies is never re-run by the scheduler by itself
    (``allowed-failures: 0``); the engine re-queues the item, counting the crash. A scheduler of one's own takes
    the same setting (docs/scale-out.md)."""
    return {"distributed.scheduler.allowed-failures": 0}


def connect(address: str | None = None, *, n_workers: int | None = None, threads_per_worker: int = 2,
            dashboard: bool = True) -> Any:
    """A ``DaskCluster`` (engine/dask/executor.py) on the scheduler at ``address``; None starts a ``LocalCluster``
    of ``n_workers`` worker processes (default 2) on 127.0.0.1. Raises ``ClusterUnavailable`` with the reason."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ClusterUnavailable(f"the Dask executor needs distributed: pip install 'indexlab[dask]' ({exc})",
                                 field="executor") from None
    from engine.dask.executor import DaskCluster
    from engine.dask.limits import start_limits

    dask.config.set(cluster_config())
    cluster = None
    try:
        if address is None:
            cluster = LocalCluster(n_workers=n_workers or 2, threads_per_worker=threads_per_worker, processes=True,
                                   host="127.0.0.1", dashboard_address="127.0.0.1:0" if dashboard else None,
                                   scheduler_kwargs={} if dashboard else {"dashboard": False})
            client = Client(cluster, timeout=CONNECT_TIMEOUT_S)
        else:
            client = Client(address, timeout=CONNECT_TIMEOUT_S)
    except Exception as exc:  # no answer (OSError, TimeoutError), a bad address (ValueError), TLS not configured
        # (TypeError), a worker process that would not start (RuntimeError): one sentence, never a traceback
        if cluster is not None:
            cluster.close()
        if address is None:
            raise ClusterUnavailable(f"the local Dask cluster could not start: {_why(exc)}", field="executor") from None
        raise ClusterUnavailable(f"cannot reach the Dask scheduler at {address}: {_why(exc)}", field="scheduler") from None
    try:
        limits = start_limits(client, domain_concurrency=2, domain_cooldown=1.0, provider_rate_per_minute=60.0)
    except Exception as exc:
        client.close()
        if cluster is not None:
            cluster.close()
        raise ClusterUnavailable(f"the cluster could not start IndexLab's limiter: {_why(exc)}") from None
    return DaskCluster(client, cluster, limits=limits, address=address)


def _why(exc: BaseException) -> str:
    """An exception as one line: its type where the message alone would not say what went wrong."""
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return text if isinstance(exc, (OSError, TimeoutError)) and text else f"{type(exc).__name__}: {text}".rstrip(": ")
