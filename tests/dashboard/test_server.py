"""dashboard.server: what `indexlab serve` does before it starts serving."""

import gc

from dashboard.server import settle_heap


def test_serve_settles_the_start_up_heap_out_of_the_collectors_sight():
    before = gc.get_freeze_count()
    try:
        settle_heap()
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()
