"""The one conversion of retrieved skill documents into result records, for every face.

The CLI's `--json`, the HTTP service and the curator page all show the same record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_course_skills.compressors import RELEVANCE_KEY
from langchain_course_skills.retrievers import SIMILARITY_KEY

if TYPE_CHECKING:
    from langchain_core.documents import Document

# Metadata key of the passage of the course text that found a skill: {"start": int, "end": int},
# character offsets into the text. Set by the long-text path; absent on documents without it.
EVIDENCE_KEY = "evidence"


def _evidence(doc: Document) -> dict[str, int] | None:
    evidence = doc.metadata.get(EVIDENCE_KEY)
    if not isinstance(evidence, dict):
        return None
    return {"start": int(evidence["start"]), "end": int(evidence["end"])}


def result_records(documents: list[Document]) -> list[dict[str, Any]]:
    """Return one JSON-ready record per skill, with stable keys, best first.

    Keys: rank, label, uri, taxonomy, similarity, relevance_score (None without re-ranking),
    text (what the model saw) and evidence (the passage of the course text that found the
    skill as {"start", "end"} character offsets, None where the retriever did not record one).

    Example:
        >>> result_records(retriever.invoke("WordPress Grundlagen"))[0]["label"]
        'WordPress'
    """
    records = []
    for rank, doc in enumerate(documents, start=1):
        relevance = doc.metadata.get(RELEVANCE_KEY)
        records.append(
            {
                "rank": rank,
                "label": str(doc.metadata.get("label", doc.page_content)),
                "uri": str(doc.metadata.get("uri", doc.id or "")),
                "taxonomy": str(doc.metadata.get("taxonomy", "")),
                "similarity": round(float(doc.metadata.get(SIMILARITY_KEY, 0.0)), 4),
                "relevance_score": None if relevance is None else round(float(relevance), 4),
                "text": doc.page_content,
                "evidence": _evidence(doc),
            }
        )
    return records
