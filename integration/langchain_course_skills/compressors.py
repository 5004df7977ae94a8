"""Re-rank retrieved skills with a cross-encoder and keep the scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from langchain_core.cross_encoders import BaseCrossEncoder
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict, Field

from langchain_course_skills.vocabulary import DEFAULT_TOP_N, RELEVANCE_KEY

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

    cross_encoder: BaseCrossEncoder
    """Scores (query, document text) pairs; higher is more relevant."""
    top_n: int = Field(default=DEFAULT_TOP_N, gt=0)
    """How many documents to return."""
    score_threshold: float | None = None
    """Drop documents whose relevance score is below this."""

    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """Return copies of the `top_n` most relevant documents with their relevance score."""
        if not documents:
            return []
        scores = self.cross_encoder.score([(query, doc.page_content) for doc in documents])
        ranked = sorted(zip(documents, scores), key=lambda pair: pair[1], reverse=True)
        reranked = []
        for doc, score in ranked[: self.top_n]:
            if self.score_threshold is not None and score < self.score_threshold:
                break
            copy = doc.model_copy(update={"metadata": {**doc.metadata, RELEVANCE_KEY: score}})
            reranked.append(copy)
        return reranked
