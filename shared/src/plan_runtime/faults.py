"""Named fault points, so tests can kill a real process at an exact step.

Set `PLAN_FAULT_AT=<name>` in a process's environment and it kills itself with SIGKILL
when it reaches that point: the same as `kill -9` at the worst moment, but deterministic.
Unset (always, in production) it costs one dictionary lookup.
"""

import logging
import os
import signal

log = logging.getLogger(__name__)


def fault_point(name: str) -> None:
    if os.environ.get("PLAN_FAULT_AT") == name:
        log.warning("fault point %s reached: killing this process", name)
        os.kill(os.getpid(), signal.SIGKILL)
