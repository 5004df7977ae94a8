"""The package's shared vocabulary: metadata keys, defaults, text checks, and skill hits.

Everything that reads or writes a skill document's metadata, or turns retrieved documents into
results (the tool, the command line, evaluation, mapping, the service), uses these names, so a
key is spelled in one place. This module imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.documents import Document

DEFAULT_EMBEDDING_MODEL = "isy-thl/multilingual-e5-base-course-skill-tuned"
DEFAULT_RERANKER_MODEL = "isy-thl/bge-reranker-base-course-skill-tuned"
DEFAULT_COLLECTION = "skills"  # Chroma collection of a skill store
SERVE_TOKEN_ENV = "COURSE_SKILLS_TOKEN"  # the service's bearer token, for serve and its workers
SERVE_OPTIONS_ENV = "COURSE_SKILLS_SERVE_OPTIONS"  # the workers' options as JSON
DEFAULT_K = 30  # candidates, as in the model card's evaluation
DEFAULT_TOP_N = 10  # skills kept after re-ranking, and shown
# How long a passage of a long course text is: the default measured on long documents built
# from the Decorte sets (benchmarks/long_texts.py).
DEFAULT_PASSAGE_TOKENS = 32  # about a sentence; the e5 prefix and special tokens included
DEFAULT_MAP_BATCH = 64  # courses per batch of course-skills map

SIMILARITY_KEY = "similarity"  # metadata: first-stage cosine similarity
RELEVANCE_KEY = "relevance_score"  # metadata: the reranker's score, where LangChain puts it
# metadata: the score that ranks the skills a long text's passages found (see
# SkillRetriever.fusion); only for a text read in several passages
FUSED_KEY = "fused_score"
EVIDENCE_KEY = "evidence"  # metadata: {"start", "end"} of the course text that found the skill
TEMPLATE_KEY = "passage_template"  # metadata: how a skill's page_content was made
# Metadata of a skill's further views in a store (views.py), and of a result from such a store.
SKILL_ID_KEY = "skill_id"  # the skill a further view belongs to
VIEW_KEY = "view"  # "label", "alt" or "description"
LANGUAGE_KEY = "language"  # the language of a translated view, e.g. "de"
SKILL_TEXT_KEY = "skill_text"  # the skill's main text (what results show, the reranker scores)
MATCHED_VIEW_KEY = "matched_view"  # result: the view that matched best, e.g. "alt" or "de:label"
MATCHED_TEXT_KEY = "matched_text"  # result: that view's text
VERDICT_KEY = "verdict"  # result: a curator's latest verdict on it for this course text


def check_text(text: object, what: str) -> str:
    """Return `text`, or raise a `ValueError` if it is not a non-blank string."""
    if not isinstance(text, str):
        msg = f"{what} must be a string, got {type(text).__name__}: {text!r}"
        raise ValueError(msg)
    if not text.strip():
        msg = f"{what} is empty; pass the text of a course or a skill"
        raise ValueError(msg)
    surrogate = lone_surrogate(text)
    if surrogate is not None:
        msg = (
            f"{what} is not valid text: {surrogate}; the models cannot read it, so fix its "
            "source (often a broken JSON escape) or drop the character"
        )
        raise ValueError(msg)
    return text


def lone_surrogate(text: str) -> str | None:
    """Describe the first lone surrogate (half of a UTF-16 pair, e.g. from JSON) in `text`."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"a lone surrogate {text[exc.start]!r} at character {exc.start}"
    return None


def check_score_threshold(value: float | None, what: str) -> float | None:
    """Return `value`, or raise a `ValueError` unless it is None or a score in [0, 1].

    Both scores a threshold applies to lie there: the cosine similarity of normalized e5
    embeddings of related texts, and the reranker's relevance.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        msg = (
            f"{what} must be a score between 0 and 1 (a similarity or relevance score), got "
            f"{value!r}; pass for example 0.5, or None to keep every skill"
        )
        raise ValueError(msg)
    return float(value)


def check_texts(texts: object, what: str) -> list[str]:
    """Return `texts` as a list, or raise a `ValueError` naming the first bad entry."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        msg = f"{what} must be a list of strings, got {type(texts).__name__}"
        raise ValueError(msg)
    for index, text in enumerate(texts):
        check_text(text, f"{what}[{index}]")
    return list(texts)


# SkillHit fields a record leaves out where they are None (one-view stores, short texts, no
# verdict).
OPTIONAL_HIT_KEYS = ("matched_view", "matched_text", "fused_score", VERDICT_KEY)


@dataclass(frozen=True)
class SkillHit:
    """One retrieved skill, as every face reports it."""

    rank: int
    """1 for the best skill."""
    id: str
    """The skill's id in the store (its URI for ESCO and GRETA)."""
    label: str
    """The skill's preferred label."""
    uri: str
    """The skill's URI."""
    taxonomy: str
    """The taxonomy the skill belongs to, for example "ESCO"."""
    similarity: float | None
    """Cosine similarity of course text and skill (None if the retriever gave none)."""
    relevance_score: float | None
    """The reranker's score in [0, 1] (None without a reranker)."""
    text: str
    """The skill text the models saw."""
    evidence: dict[str, int] | None = None
    """Character offsets {"start", "end"} of the part of the course text that found the skill."""
    matched_view: str | None = None
    """In a store with several views per skill: the view that matched ("alt", "de:label", ...)."""
    matched_text: str | None = None
    """In a store with several views per skill: the text of the view that matched."""
    fused_score: float | None = None
    """For a text read in several passages: the score its passages' candidates were ranked by
    (see `SkillRetriever.fusion`); without a reranker, the skills are in its order."""
    verdict: str | None = None
    """A curator's latest verdict on this skill for this exact course text: "accepted" or
    "rejected"; None where there is none (see `langchain_course_skills.verdicts`)."""

    def to_record(self, digits: int = 4) -> dict[str, Any]:
        """Return a JSON-ready dict with stable keys and rounded scores (the id is the uri).

        `matched_view` and `matched_text` appear only for stores with several views per skill,
        `fused_score` only for a text read in several passages, `verdict` only where a curator
        gave one.
        """
        record = asdict(self)
        del record["id"]
        for key in OPTIONAL_HIT_KEYS:
            if record[key] is None:
                del record[key]
        for key in ("similarity", "relevance_score", "fused_score"):
            if record.get(key) is not None:
                record[key] = round(record[key], digits)
        return record


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _score(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def skill_hits(documents: Sequence[Document]) -> list[SkillHit]:
    """Turn retrieved documents (best first) into `SkillHit`s."""
    hits = []
    for rank, doc in enumerate(documents, start=1):
        meta = doc.metadata
        evidence = meta.get(EVIDENCE_KEY)
        hits.append(
            SkillHit(
                rank=rank,
                id=str(doc.id or meta.get("uri", "")),
                label=str(meta.get("label", doc.page_content)),
                uri=str(meta.get("uri", doc.id or "")),
                taxonomy=str(meta.get("taxonomy", "")),
                similarity=_score(meta.get(SIMILARITY_KEY)),
                relevance_score=_score(meta.get(RELEVANCE_KEY)),
                text=doc.page_content,
                evidence=dict(evidence) if evidence else None,
                matched_view=_text(meta.get(MATCHED_VIEW_KEY)),
                matched_text=_text(meta.get(MATCHED_TEXT_KEY)),
                fused_score=_score(meta.get(FUSED_KEY)),
            )
        )
    return hits
