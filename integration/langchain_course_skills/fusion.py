"""Every fusion rule in one place: how a long text's passages, and a skill's views, combine.

A long course text is read in passages (`passages.split_passages`); each passage retrieves its
candidates, and `fuse_passages` combines those lists into one list of skills (`Fusion`). A store
with several views of each skill (`views`) matches passages, and `fuse_scores` combines a
skill's matched views into one score (`ViewFusion`). The defaults are the rules measured best
on the Decorte sets (docs/long-texts.md, docs/views.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from langchain_course_skills.vocabulary import FUSED_KEY, SIMILARITY_KEY

if TYPE_CHECKING:
    from langchain_core.documents import Document

__all__ = [
    "ALT_MARGIN",
    "DEFAULT_FUSION",
    "DEFAULT_VIEW_FUSION",
    "FUSIONS",
    "RRF_K",
    "VIEW_FUSIONS",
    "Fusion",
    "ViewFusion",
    "fuse_passages",
    "fuse_scores",
]

RRF_K = 60  # reciprocal-rank fusion constant, as in Cormack et al. (2009)

# How the passages of a long course text combine per skill: the default measured on long
# documents built from the Decorte sets (benchmarks/long_texts.py).
Fusion = Literal["relative", "max", "rrf", "round_robin"]
FUSIONS: tuple[Fusion, ...] = ("relative", "max", "rrf", "round_robin")
DEFAULT_FUSION: Fusion = "relative"

# How the views of a skill combine into its score.
ViewFusion = Literal["blend", "max", "mean", "rrf"]
VIEW_FUSIONS: tuple[ViewFusion, ...] = ("blend", "max", "mean", "rrf")
# "blend" measured best on the Decorte validation sets over all 13,896 ESCO skills with
# all-MiniLM-L6-v2 (benchmarks/views_quality.py, docs/views.md).
DEFAULT_VIEW_FUSION: ViewFusion = "blend"
# "blend": an alternative label outranks the label and description only by more than this
# cosine margin (an exact synonym still wins; a loose one no longer crowds out the skill).
ALT_MARGIN = 0.1
# Views of one kind of evidence: a skill's names (preferred and alternative, any language) and
# its description. "mean" averages the best match of each group; "rrf" fuses their rankings.
_GROUPS = {"label": "name", "alt": "name", "description": "description"}


def fuse_passages(ranked: Sequence[Sequence[Document]], k: int, fusion: Fusion) -> list[Document]:
    """Combine the candidate lists of a text's passages into one list of `k` skills.

    Each skill is ranked by its best per-passage score and keeps the copy (and so the evidence)
    of the passage that gave it: "relative" takes the similarity minus that of the passage's
    weakest candidate (a passage that resembles every skill a little no longer outranks one
    that names a skill), "max" the raw cosine similarity, "round_robin" 1 / the rank in the
    passage, then the similarity (every passage's best candidates first). "rrf" sums
    1 / (RRF_K + rank) over the passages (skills that many passages share come first); its
    evidence is the passage where the skill ranks best. The score that ranked a skill is its
    `metadata["fused_score"]`.
    """
    best: dict[str, tuple[tuple[float, float], Document]] = {}  # key -> (per-passage score, doc)
    fused: dict[str, float] = {}
    for candidates in ranked:
        floor = float(candidates[-1].metadata[SIMILARITY_KEY]) if candidates else 0.0
        for rank, doc in enumerate(candidates, start=1):
            key = doc.id or doc.page_content
            similarity = float(doc.metadata[SIMILARITY_KEY])
            if fusion == "relative":
                score = (similarity - floor, similarity)
            elif fusion == "max":
                score = (similarity, 0.0)
            else:  # round_robin and rrf: the best rank, then the similarity
                score = (1.0 / rank, similarity)
            if key not in best or score > best[key][0]:
                best[key] = (score, doc)
            if fusion == "rrf":
                fused[key] = fused.get(key, 0.0) + 1.0 / (RRF_K + rank)
    if fusion == "rrf":
        order = sorted(best, key=lambda key: fused[key], reverse=True)
    else:
        order = sorted(best, key=lambda key: best[key][0], reverse=True)  # stable: first found
        fused = {key: score for key, ((score, _), _) in best.items()}
    skills = []
    for key in order[:k]:
        doc = best[key][1]
        skills.append(doc.model_copy(update={"metadata": {**doc.metadata, FUSED_KEY: fused[key]}}))
    return skills


def fuse_scores(
    matches: Sequence[tuple[str, str, float]], rule: ViewFusion, floor: float | None = None
) -> list[tuple[str, float, int]]:
    """Fuse one query's passage matches per skill; return (skill id, score, best match), best first.

    Args:
        matches: (skill id, view kind, cosine similarity) of the passages found, best first;
            the kind is "label", "alt" or "description" (any language).
        rule: "blend": the mean of the best label and the best description match, or the best
            alternative label less `ALT_MARGIN` if that is higher; "max": the best similarity
            of any view; "mean": the mean over the evidence groups (names: labels and
            alternative labels; descriptions) of each group's best similarity; "rrf":
            reciprocal-rank fusion of the per-group rankings of skills (ties by the best
            similarity). In "blend" and "mean", a kind the store has but that was not among
            the matches of a skill scores `floor`, since its passages rank below every one found.
        floor: The similarity of a group not among the matches (default: the lowest found).

    Returns:
        Per skill: its id, its fused score (for "rrf" the best cosine similarity, which orders
        ties only), and the index in `matches` of its best match.
    """
    best: dict[str, int] = {}
    per_kind: dict[str, dict[str, float]] = {}
    per_group: dict[str, dict[str, float]] = {}
    for index, (skill, kind, similarity) in enumerate(matches):
        if skill not in best or similarity > matches[best[skill]][2]:
            best[skill] = index
        for key, table in ((kind, per_kind), (_GROUPS.get(kind, "name"), per_group)):
            scores = table.setdefault(key, {})
            scores[skill] = max(similarity, scores.get(skill, similarity))
    low = min((m[2] for m in matches), default=0.0) if floor is None else floor
    if rule == "blend":
        main = [per_kind[kind] for kind in ("label", "description") if kind in per_kind]
        alt = per_kind.get("alt", {})
        fused = {}
        for skill in best:
            base = sum(scores.get(skill, low) for scores in main) / len(main) if main else low
            fused[skill] = max(base, alt[skill] - ALT_MARGIN) if skill in alt else base
        order = sorted(best, key=lambda skill: fused[skill], reverse=True)
    elif rule == "max":
        fused = {skill: matches[index][2] for skill, index in best.items()}
        order = sorted(best, key=lambda skill: fused[skill], reverse=True)
    elif rule == "mean":
        fused = {
            skill: sum(scores.get(skill, low) for scores in per_group.values()) / len(per_group)
            for skill in best
        }
        order = sorted(best, key=lambda skill: fused[skill], reverse=True)
    elif rule == "rrf":
        rrf = dict.fromkeys(best, 0.0)
        for scores in per_group.values():
            ranking = sorted(scores, key=lambda skill: scores[skill], reverse=True)
            for rank, skill in enumerate(ranking, start=1):
                rrf[skill] += 1.0 / (RRF_K + rank)
        fused = {skill: matches[index][2] for skill, index in best.items()}
        order = sorted(best, key=lambda skill: (rrf[skill], fused[skill]), reverse=True)
    else:
        msg = f"unknown view fusion {rule!r}; choose from {', '.join(VIEW_FUSIONS)}"
        raise ValueError(msg)
    return [(skill, fused[skill], best[skill]) for skill in order]
