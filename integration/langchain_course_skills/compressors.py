"""Re-rank retrieved skills with a cross-encoder and keep the scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from langchain_core.cross_encoders import BaseCrossEncoder
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import AliasChoices, ConfigDict, Field, field_validator

from langchain_course_skills.vocabulary import DEFAULT_TOP_N, RELEVANCE_KEY, check_score_threshold

if TYPE_CHECKING:
    from langchain_core.callbacks import Callbacks


class SkillReranker(BaseDocumentCompressor):
    """Re-rank documents by a cross-encoder's score and keep the best `top_n`.

    Returns copies sorted by `metadata["relevance_score"]`, best first; the input documents
    and their first-stage `metadata["similarity"]` are left as they are.

    Example:
        >>> reranker = SkillReranker(cross_encoder=SkillCrossEncoder(), top_n=3)
        >>> [d.metadata["label"] for d in reranker.compress_documents(docs, "WordPress Kurs")]
        ['WordPress', 'Software für Content-Management-Systeme nutzen', ...]
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    cross_encoder: BaseCrossEncoder = Field(validation_alias=AliasChoices("cross_encoder", "model"))
    """Scores (query, document text) pairs; higher is more relevant. Also accepted as `model=`,
    as LangChain's `CrossEncoderReranker` names it."""
    top_n: int = Field(default=DEFAULT_TOP_N, gt=0)
    """How many documents to return."""
    score_threshold: float | None = None
    """Drop documents whose relevance score (in [0, 1]) is below this."""

    @field_validator("score_threshold")
    @classmethod
    def _check_threshold(cls, value: float | None) -> float | None:
        return check_score_threshold(value, "score_threshold")

    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """Return copies of the `top_n` most relevant documents with their relevance score."""
        return self.rerank_many([[(query, doc) for doc in documents]])[0]

    def rerank_many(
        self, groups: Sequence[Sequence[tuple[str, Document]]], *, top_n: int | None = None
    ) -> list[list[Document]]:
        """Re-rank several candidate lists with one batch of cross-encoder pairs.

        Each candidate is scored against its own query text, so that the candidates of a long
        course are scored against the passage that found them, and the pairs of many courses
        fill the model's batches.

        Args:
            groups: Per course, its (query text, candidate) pairs.
            top_n: Documents kept per group (default: `self.top_n`).

        Returns:
            Per group, copies of its best `top_n` documents with their relevance score, best
            first.
        """
        keep = self.top_n if top_n is None else top_n
        if keep <= 0:
            msg = f"top_n must be a positive integer (documents kept per group), got {keep}"
            raise ValueError(msg)
        pairs = [(query, doc.page_content) for group in groups for query, doc in group]
        scores = iter(self.cross_encoder.score(pairs) if pairs else [])
        reranked = []
        for group in groups:
            scored = [(doc, next(scores)) for _, doc in group]
            ranked = sorted(scored, key=lambda pair: pair[1], reverse=True)
            kept = []
            for doc, score in ranked[:keep]:
                if self.score_threshold is not None and score < self.score_threshold:
                    break
                metadata = {**doc.metadata, RELEVANCE_KEY: score}
                kept.append(doc.model_copy(update={"metadata": metadata}))
            reranked.append(kept)
        return reranked
