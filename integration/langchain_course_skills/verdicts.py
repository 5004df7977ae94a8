"""Curators' verdicts applied to results: marked, rejected skills left out, accepted ones kept.

A verdict belongs to one exact course text (its stripped text's SHA-256) and one skill; the
latest verdict on the pair counts (`FeedbackStore.course_verdicts`). Every face applies them
the same way, to the JSON-ready skill records (`SkillHit.to_record`): search, map and the
service.

Example:
    >>> verdicts = FeedbackStore("skills-db-feedback.sqlite3").course_verdicts([text])[0]
    >>> [(r["label"], r.get("verdict")) for r in apply_verdicts(records, verdicts)]
    [('WordPress', 'accepted'), ('Webdesign', None)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_course_skills.vocabulary import VERDICT_KEY, SkillHit

if TYPE_CHECKING:
    from langchain_course_skills.feedback import StoredVerdict


def _accepted_record(verdict: StoredVerdict) -> dict[str, Any]:
    """A record for an accepted skill the search did not return: no scores, as curated."""
    hit = SkillHit(
        rank=0,  # numbered with the others
        id=verdict.uri,
        label=verdict.label,
        uri=verdict.uri,
        taxonomy=verdict.taxonomy,
        similarity=None,
        relevance_score=None,
        text=verdict.label,
        verdict="accepted",
    )
    return hit.to_record()


def apply_verdicts(
    records: Sequence[Mapping[str, Any]],
    verdicts: Mapping[str, StoredVerdict],
    *,
    keep_rejected: bool = False,
    keep_accepted: bool = False,
    taxonomies: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Return copies of one course's skill records with its curators' verdicts applied.

    Each record gets `verdict` ("accepted" or "rejected") where its skill has one; rejected
    skills are left out unless `keep_rejected`; ranks are numbered again from 1.

    Args:
        records: The course's skill records, best first (`SkillHit.to_record`); not changed.
        verdicts: Skill id -> the latest verdict on it for this course text.
        keep_rejected: Keep rejected skills, marked rejected.
        keep_accepted: Add the accepted skills the records lack (below top-n or min-score),
            after the others and without scores, so that a curated result keeps them.
        taxonomies: With `keep_accepted`, add only accepted skills of these taxonomies.
    """
    kept: list[dict[str, Any]] = []
    for record in records:
        copy = dict(record)
        verdict = verdicts.get(str(record.get("uri")))
        copy.pop(VERDICT_KEY, None)
        if verdict is not None:
            copy[VERDICT_KEY] = verdict.verdict
        if verdict is None or verdict.verdict == "accepted" or keep_rejected:
            kept.append(copy)
    if keep_accepted:
        present = {str(record.get("uri")) for record in records}
        kept.extend(
            _accepted_record(verdict)
            for uri, verdict in verdicts.items()
            if verdict.verdict == "accepted"
            and uri not in present
            and (not taxonomies or verdict.taxonomy in taxonomies)
        )
    for rank, record in enumerate(kept, start=1):
        record["rank"] = rank
    return kept
