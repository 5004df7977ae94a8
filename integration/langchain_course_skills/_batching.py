"""Forward-pass batches sized by padded tokens, not by a count of texts."""

from __future__ import annotations

from collections.abc import Sequence


def token_batches(
    lengths: Sequence[int], budget: int, max_count: int | None = None
) -> list[list[int]]:
    """Group text indexes, shortest first, into batches of at most `budget` padded tokens.

    A batch pads every text to its longest, so its cost is `longest x count`; sorting by length
    keeps that close to the real tokens. A text longer than `budget` is a batch of its own.

    Args:
        lengths: Tokens of each text.
        budget: Padded tokens per batch.
        max_count: At most this many texts per batch (None: no limit).

    Example:
        >>> token_batches([3, 10, 2, 4], budget=8)
        [[2, 0], [3], [1]]
    """
    batches: list[list[int]] = []
    batch: list[int] = []
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        full = max_count is not None and len(batch) == max_count
        if batch and (full or lengths[index] * (len(batch) + 1) > budget):
            batches.append(batch)
            batch = []
        batch.append(index)
    if batch:
        batches.append(batch)
    return batches
