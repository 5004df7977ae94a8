"""Compare two rankings up to float noise: batch padding or thread counts move scores by ~1e-7.

The tiny random test models give near-ties (scores that differ in the sixth decimal), whose
order such noise can swap; a skill whose score stands apart must keep its place.
"""

from __future__ import annotations

import pytest

TOLERANCE = 1e-5


def assert_same_ranking(
    ours: list[tuple[str, float]], theirs: list[tuple[str, float]], tolerance: float = TOLERANCE
) -> None:
    """Assert equal scores rank by rank, and equal ids wherever a score has no near-tie."""
    assert [score for _, score in ours] == pytest.approx(
        [score for _, score in theirs], abs=tolerance
    )
    for index, (skill, score) in enumerate(theirs):
        tied = any(
            abs(score - other) <= tolerance for i, (_, other) in enumerate(theirs) if i != index
        )
        if not tied:
            assert ours[index][0] == skill, f"rank {index + 1}: {ours[index][0]} != {skill}"
