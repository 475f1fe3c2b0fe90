"""Crash points for the kill -9 tests: `VSAT_CRASH_AT=<step>` kills the process, as a power cut or
an OOM killer would, when it reaches that step of a write. Unset in normal runs (a dict lookup)."""

import os
import signal

CRASH_ENV = "VSAT_CRASH_AT"


def crash_point(step: str) -> None:
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)
