"""Closing a cluster the server owns logs no traceback: on a stop, distributed's scheduler can find a retiring
worker's comm closed and log it at INFO with a traceback (a red CI run: the server log's check saw it)."""

from __future__ import annotations

import logging

from distributed.comm.core import CommClosedError

from engine.dask.cluster import connect


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_closing_the_servers_own_cluster_keeps_the_comm_closed_traceback_out_of_the_log():
    batched = logging.getLogger("distributed.batched")
    seen = Records()
    batched.addHandler(seen)
    level = batched.level
    try:
        cluster = connect(None, n_workers=1, threads_per_worker=1, dashboard=False)
        local = cluster.cluster
        close = local.close

        def close_as_in_the_race(*args, **kwargs):
            # what distributed.batched logs when the race happens (it cannot be made to happen on demand)
            try:
                raise CommClosedError()
            except CommClosedError:
                batched.info("Batched Comm Closed %r", "comm", exc_info=True)
            batched.warning("a warning still shows")
            return close(*args, **kwargs)

        local.close = close_as_in_the_race
        cluster.close()
        assert [r.getMessage() for r in seen.records] == ["a warning still shows"]
        assert batched.level == level  # only during our close
        batched.info("after the close, distributed's own level again")
        assert len(seen.records) == 1 + (batched.isEnabledFor(logging.INFO))
    finally:
        batched.removeHandler(seen)
