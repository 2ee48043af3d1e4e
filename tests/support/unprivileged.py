"""Run a child process that file permissions apply to, even when the suite runs as root.

Root reads and writes anything through CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH; ``setpriv`` drops
both for the child, so a ``chmod 000`` directory or a read-only one is refused as it would be for
an ordinary user. Without root nothing needs dropping; without ``setpriv`` the test is skipped.
"""

from __future__ import annotations

import os
import shutil

import pytest

_DAC = "-dac_override,-dac_read_search"


def unprivileged(argv: list[str]) -> list[str]:
    """``argv`` prefixed so that the child cannot bypass file permissions (skips the test if it cannot be)."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make file permissions apply to a child")
    return [setpriv, "--bounding-set", _DAC, "--inh-caps", _DAC, *argv]
