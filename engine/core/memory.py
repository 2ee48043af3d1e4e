"""How a long-lived server process allocates, so that memory it frees goes back to the system.

Two allocators kept freed memory for good in ``indexlab serve`` (bench/soak.py, 100k catalog, ten whole-catalog
batches: RSS 394 MB at start, 742 MB after, with under 60 MB of it in use):

* glibc's malloc raises its mmap threshold each time a large block is freed (up to 32 MB), so the numpy
  arrays and Arrow buffers of every plan, load and status read (0.1-1 MB each at 100k items) then come from
  the heap arenas, where they fragment them: 150-190 MB free inside the arenas and never returned. A fixed
  threshold (glibc's own initial 128 KiB; setting it turns the raising off) keeps large blocks in their own
  mappings, unmapped when freed.
* Arrow's default pool (mimalloc in the pyarrow wheels) keeps what the catalog load and the previews freed:
  80-100 MB. Arrow's system pool allocates through malloc, and so through the threshold above.

An operator's own setting wins: ``MALLOC_MMAP_THRESHOLD_`` (glibc reads it at start) or
``ARROW_DEFAULT_MEMORY_POOL`` in the environment leaves that allocator as it says.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_MMAP_THRESHOLD = -3  # mallopt's parameter number (glibc malloc.h)
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's initial value, held fixed


def tune_allocators() -> dict[str, str]:
    """Apply both settings to this process (call once, early, before the catalog loads); returns what was set."""
    applied: dict[str, str] = {}
    if sys.platform.startswith("linux") and "MALLOC_MMAP_THRESHOLD_" not in os.environ and _mallopt(
            M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES):
        applied["malloc_mmap_threshold"] = str(MMAP_THRESHOLD_BYTES)
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())
        applied["arrow_memory_pool"] = "system"
    return applied


def _mallopt(param: int, value: int) -> bool:
    """glibc's ``mallopt``; False where the C library has none or refuses (musl's answers 0)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(param, value) == 1
