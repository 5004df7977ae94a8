"""One way to turn retrieved skill documents into plain records, for every face that shows them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_course_skills.compressors import RELEVANCE_KEY
from langchain_course_skills.retrievers import EVIDENCE_KEY, SIMILARITY_KEY

if TYPE_CHECKING:
    from langchain_core.documents import Document

SCORE_DIGITS = 4  # decimals of the scores in records


def skill_record(doc: Document, rank: int) -> dict[str, Any]:
    """Return a JSON-ready record of one retrieved skill.

    Keys: rank, label, uri, taxonomy, similarity (cosine), relevance_score (None without a
    reranker) and evidence (`{"start", "end"}` character offsets of the passage of the course
    text that found the skill, or None).
    """
    meta = doc.metadata
    relevance = meta.get(RELEVANCE_KEY)
    evidence = meta.get(EVIDENCE_KEY)
    return {
        "rank": rank,
        "label": str(meta.get("label", doc.page_content)),
        "uri": str(meta.get("uri", doc.id or "")),
        "taxonomy": str(meta.get("taxonomy", "")),
        "similarity": round(float(meta.get(SIMILARITY_KEY, 0.0)), SCORE_DIGITS),
        "relevance_score": None if relevance is None else round(float(relevance), SCORE_DIGITS),
        "evidence": None
        if evidence is None
        else {"start": int(evidence["start"]), "end": int(evidence["end"])},
    }


def skill_records(documents: list[Document]) -> list[dict[str, Any]]:
    """Return `skill_record` of each document, ranked from 1 in the given order."""
    return [skill_record(doc, rank) for rank, doc in enumerate(documents, start=1)]
