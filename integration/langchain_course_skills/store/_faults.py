"""A fault-injection seam: stop a process at a named point of a store sync, for the fault tests.

The sync calls `fault_point(NAME)` between its steps ("locked", "opened", "compared",
"cleared", "embedded:K", "upserted:K", "labels-in" (main passages written, further
views follow), "deleted:K", "read:K", "written", "checked",
"finished"). Nothing happens unless one of these environment variables is set:

- `COURSE_SKILLS_FAULT=kill@POINT`: SIGKILL this process on reaching POINT, a name such as
  `upserted:2` or a number N (the N-th point reached, counting from 1).
- `COURSE_SKILLS_FAULT=wait@POINT@FILE`: block at POINT until FILE exists (to make two
  writers overlap deterministically).
- `COURSE_SKILLS_FAULT_TRACE=FILE`: append the name of every point reached to FILE.
- `COURSE_SKILLS_PAGE=N`: write and read N skills per request, so that a small taxonomy
  passes many points.

In-process tests can call `set_fault_hook(fn)` instead: `fn(point)` runs at every point.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

FAULT_ENV = "COURSE_SKILLS_FAULT"  # what to do where, see the module docstring
TRACE_ENV = "COURSE_SKILLS_FAULT_TRACE"  # file that records every point reached
PAGE_ENV = "COURSE_SKILLS_PAGE"  # skills per store request, overriding the defaults
_WAIT_POLL = 0.02  # seconds between looks for the file a `wait@` point waits for

_count = 0
_count_lock = threading.Lock()
_hook: Callable[[str], None] | None = None


def set_fault_hook(hook: Callable[[str], None] | None) -> None:
    """Run `hook(point)` at every fault point of this process (None removes it)."""
    global _hook
    _hook = hook


def page_size(default: int) -> int:
    """Return the skills per store request: `default`, or `COURSE_SKILLS_PAGE` where set."""
    value = os.environ.get(PAGE_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else default


def fault_point(name: str) -> None:
    """Mark the point `name`; kill, wait or trace if the environment asks for it."""
    global _count
    if _hook is not None:
        _hook(name)
    spec = os.environ.get(FAULT_ENV)
    trace = os.environ.get(TRACE_ENV)
    if not spec and not trace:
        return
    with _count_lock:
        _count += 1
        number = _count
    if trace:
        with open(trace, "a", encoding="utf-8") as handle:
            handle.write(f"{name}\n")
    if not spec:
        return
    action, _, rest = spec.partition("@")
    point, _, argument = rest.partition("@")
    if point not in (name, str(number)):
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "wait":
        flag = Path(argument)
        while not flag.exists():
            time.sleep(_WAIT_POLL)
