"""Load shedding: a bounded queue in front of the models.

A search runs in a worker thread, at most `concurrency` at once; up to `queue` more wait. A
request beyond that is refused at once (`Overloaded`, which the service answers with 503 and
Retry-After) instead of waiting behind a queue that would outlast any client's timeout.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")
_SMOOTHING = 0.2  # weight of the newest duration in the running mean that sizes Retry-After
_FIRST_GUESS_S = 1.0  # assumed duration of a search before any was measured


class Overloaded(Exception):
    """The queue is full; try again after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the service is busy; retry after {retry_after} s")
        self.retry_after = retry_after


class Admission:
    """Admit at most `concurrency` running and `queue` waiting calls; refuse the rest.

    Example:
        >>> admission = Admission(concurrency=1, queue=16)
        >>> await admission.run(lambda: 42)
        42
    """

    def __init__(self, concurrency: int, queue: int) -> None:
        if concurrency <= 0 or queue < 0:
            msg = f"concurrency must be positive and queue not negative, got {concurrency}, {queue}"
            raise ValueError(msg)
        self.concurrency = concurrency
        self.queue = queue
        self._admitted = 0  # running + waiting; only touched on the event loop
        self.refused = 0  # calls refused with `Overloaded` since the start, for /metrics
        self._limiter: anyio.CapacityLimiter | None = None
        self._mean_s = _FIRST_GUESS_S

    @property
    def admitted(self) -> int:
        """Calls running or waiting now."""
        return self._admitted

    @property
    def running(self) -> int:
        """Calls running in a worker thread now."""
        return int(self._limiter.borrowed_tokens) if self._limiter is not None else 0

    @property
    def waiting(self) -> int:
        """Calls admitted and waiting for a free slot now."""
        return self._admitted - self.running

    def retry_after(self) -> int:
        """Seconds until the queue has likely drained by one slot's worth, at least 1."""
        return max(1, math.ceil(self._mean_s * (self._admitted + 1) / self.concurrency))

    async def run(self, call: Callable[[], T]) -> T:
        """Run `call` in a worker thread once a slot is free.

        Raises:
            Overloaded: `concurrency + queue` calls are already admitted.
        """
        if self._admitted >= self.concurrency + self.queue:
            self.refused += 1
            raise Overloaded(self.retry_after())
        if self._limiter is None:  # made on the event loop that uses it
            self._limiter = anyio.CapacityLimiter(self.concurrency)
        self._admitted += 1
        try:
            async with self._limiter:
                started = anyio.current_time()
                result = await anyio.to_thread.run_sync(call)
                elapsed = anyio.current_time() - started
                self._mean_s += _SMOOTHING * (elapsed - self._mean_s)
                return result
        finally:
            self._admitted -= 1
