"""Retrieve scored skills for a course text, optionally re-ranked by a cross-encoder."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_chroma import Chroma
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, Field, model_validator

from langchain_course_skills.vocabulary import DEFAULT_K, SIMILARITY_KEY, check_text

if TYPE_CHECKING:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForRetrieverRun,
        CallbackManagerForRetrieverRun,
        Callbacks,
    )


def _check_sizes(k: int, top_n: int | None, reranker: object) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k <= 0:
        msg = f"k must be a positive integer (candidates to retrieve), got {k!r}"
        raise ValueError(msg)
    if top_n is None:
        return
    if not isinstance(top_n, int) or isinstance(top_n, bool) or top_n <= 0:
        msg = f"top_n must be a positive integer (skills kept after re-ranking), got {top_n!r}"
        raise ValueError(msg)
    if reranker is None:
        msg = "top_n needs a reranker; pass reranker=SkillReranker(...) or leave top_n out"
        raise ValueError(msg)
    if top_n > k:
        msg = (
            f"top_n ({top_n}) is larger than k ({k}); the reranker can only keep up to k "
            "candidates, so raise k or lower top_n"
        )
        raise ValueError(msg)


def skill_filter(
    taxonomies: list[str] | None, where: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Combine a taxonomy filter and a raw Chroma `where` filter into one."""
    clauses = [where] if where else []
    if taxonomies:
        clauses.append({"taxonomy": {"$in": list(taxonomies)}})
    if len(clauses) > 1:
        return {"$and": clauses}
    return clauses[0] if clauses else None


class SkillRetriever(BaseRetriever):
    """Find the skills a course teaches: cosine search in a skill store, then optional re-ranking.

    Each document carries `metadata["similarity"]` (cosine similarity); with a reranker, the
    best `top_n` of the `k` candidates are returned with `metadata["relevance_score"]` too.

    Example:
        >>> retriever = SkillRetriever(store=store, k=30, reranker=SkillReranker(...), top_n=5)
        >>> [(d.metadata["label"], round(d.metadata["relevance_score"], 2))
        ...  for d in retriever.invoke("WordPress Grundlagen ...")]
        [('WordPress', 0.97), ('Software für Content-Management-Systeme nutzen', 0.91), ...]
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    store: Chroma
    """The skill store, from `build_skill_store` or `open_skill_store`."""
    k: int = Field(default=DEFAULT_K)
    """Candidates retrieved by cosine similarity; `invoke(query, k=...)` overrides it."""
    score_threshold: float | None = None
    """Drop candidates whose cosine similarity is below this."""
    taxonomies: list[str] | None = None
    """Only skills of these taxonomies, for example ["ESCO"]."""
    filter: dict[str, Any] | None = None
    """A raw Chroma `where` filter on skill metadata, for example {"skill_type": "knowledge"}."""
    reranker: BaseDocumentCompressor | None = None
    """Re-ranks the candidates, for example `SkillReranker`."""
    top_n: int | None = None
    """Skills kept after re-ranking (default: the reranker's own); `invoke(..., top_n=...)`."""

    @model_validator(mode="after")
    def _check(self) -> SkillRetriever:
        _check_sizes(self.k, self.top_n, self.reranker)
        return self

    def _candidates(self, vector: list[float], k: int) -> list[Document]:
        found = self.store.similarity_search_by_vector_with_relevance_scores(
            vector, k=k, filter=skill_filter(self.taxonomies, self.filter)
        )
        documents = []
        for doc, distance in found:
            similarity = 1.0 - distance  # cosine distance -> cosine similarity
            if self.score_threshold is not None and similarity < self.score_threshold:
                continue
            documents.append(
                doc.model_copy(update={"metadata": {**doc.metadata, SIMILARITY_KEY: similarity}})
            )
        return documents

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        top_n: int | None = None,
    ) -> list[Document]:
        check_text(query, "query")
        vector = self.store.embeddings.embed_query(query)  # type: ignore[union-attr]
        return self.search_by_vector(
            query, vector, k=k, top_n=top_n, callbacks=run_manager.get_child()
        )

    def search_by_vector(
        self,
        query: str,
        vector: list[float],
        *,
        k: int | None = None,
        top_n: int | None = None,
        callbacks: Callbacks = None,
    ) -> list[Document]:
        """Retrieve (and re-rank) for a query whose embedding is already computed.

        `invoke` embeds the query and calls this; callers that embed many queries in one batch
        (evaluation) call it directly and get exactly what `invoke` would return.
        """
        k = self.k if k is None else k
        top_n = self.top_n if top_n is None else top_n
        _check_sizes(k, top_n, self.reranker)
        candidates = self._candidates(vector, k)
        if self.reranker is None:
            return candidates
        reranker = self.reranker
        if top_n is not None and hasattr(reranker, "top_n"):
            reranker = reranker.model_copy(update={"top_n": top_n})
        return list(reranker.compress_documents(candidates, query, callbacks=callbacks))

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        top_n: int | None = None,
    ) -> list[Document]:
        # The models and Chroma's client are synchronous: run in a worker thread.
        return await run_in_executor(
            None,
            self._get_relevant_documents,
            query,
            run_manager=run_manager.get_sync(),
            k=k,
            top_n=top_n,
        )
