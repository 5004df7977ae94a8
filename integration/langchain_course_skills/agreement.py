"""How far curators agree, on the (course, skill) pairs that two or more of them judged.

Example:
    >>> found = agreement({
    ...     ("course", "skill-1"): {"ana": "accepted", "ben": "accepted"},
    ...     ("course", "skill-2"): {"ana": "accepted", "ben": "rejected"},
    ... })
    >>> found.pairs, found.agreeing, found.by_curators[0].kappa
    (2, 1, 0.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

# (course text sha256, skill id) -> curator -> that curator's latest verdict on the pair
Judgments = Mapping[tuple[str, str], Mapping[str, str]]


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float | None:
    """Return Cohen's kappa of two curators' verdicts on the same pairs, in the same order.

    Agreement beyond chance: (observed - expected) / (1 - expected), where `expected` comes
    from each curator's own share of each verdict. None where it is undefined: no pairs, or
    both curators gave one and the same verdict to every pair (`expected` is 1).
    """
    count = len(first)
    if count == 0 or count != len(second):
        return None
    observed = sum(a == b for a, b in zip(first, second)) / count
    expected = sum(
        (first.count(verdict) / count) * (second.count(verdict) / count)
        for verdict in set(first) | set(second)
    )
    if expected >= 1:
        return None
    return (observed - expected) / (1 - expected)


@dataclass(frozen=True)
class CuratorPair:
    """Two curators, on the pairs both judged."""

    curators: tuple[str, str]
    """Their names, in alphabetical order."""
    pairs: int
    """(course, skill) pairs both judged."""
    agreeing: int
    """Of those, pairs both gave the same verdict."""
    kappa: float | None
    """Cohen's kappa over those pairs; None where undefined (see `cohen_kappa`)."""


@dataclass(frozen=True)
class Agreement:
    """Agreement between curators: overall, and for each two who judged the same pairs."""

    pairs: int
    """(course, skill) pairs judged by two or more curators."""
    agreeing: int
    """Of those, pairs where every curator gave the same verdict."""
    by_curators: tuple[CuratorPair, ...]
    """Each two curators with a pair in common, by name."""

    @property
    def fraction(self) -> float | None:
        """Share of the pairs judged by two or more on which all agree; None without any."""
        return self.agreeing / self.pairs if self.pairs else None


def agreement(judgments: Judgments) -> Agreement:
    """Measure how far curators agree: the share of pairs they agree on, and Cohen's kappa.

    Args:
        judgments: Each pair's latest verdict per curator; pairs judged by one curator only
            do not count.
    """
    shared = {pair: by for pair, by in judgments.items() if len(by) >= 2}
    agreeing = sum(len(set(by.values())) == 1 for by in shared.values())
    names = sorted({name for by in shared.values() for name in by})
    pairs = []
    for first, second in combinations(names, 2):
        both = [(by[first], by[second]) for by in shared.values() if first in by and second in by]
        if both:
            pairs.append(
                CuratorPair(
                    curators=(first, second),
                    pairs=len(both),
                    agreeing=sum(a == b for a, b in both),
                    kappa=cohen_kappa([a for a, _ in both], [b for _, b in both]),
                )
            )
    return Agreement(pairs=len(shared), agreeing=agreeing, by_curators=tuple(pairs))
