"""An Executor that runs each job at once in the caller: deterministic engine tests (rq's burst mode)."""

from concurrent.futures import Executor, Future


class InlineExecutor(Executor):
    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # the engine reads it from the future, as from a pool
            future.set_exception(exc)
        return future
