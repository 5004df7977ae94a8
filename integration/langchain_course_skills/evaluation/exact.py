"""Exact retrieval over a list of skills, without a store: for fine-tuning and model comparisons.

Every skill passage and every query is embedded by the model's own `Embeddings` methods (with
`E5Embeddings`, as `passage: ` and `query: `), and the top k skills by cosine similarity are
found exactly, by a matrix product over the normalized vectors. Two models, or one model before
and after fine-tuning, are compared on the same footing, with no approximate index in between.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_course_skills.embeddings import embed_queries
from langchain_course_skills.evaluation.metrics import compute_metrics

if TYPE_CHECKING:
    import torch
    from langchain_core.documents import BaseDocumentCompressor, Document
    from langchain_core.embeddings import Embeddings

    from langchain_course_skills.evaluation.gold import GoldSet

_SEARCH_CHUNK = 1024  # queries per similarity matrix block (1024 x 13,896 floats = 57 MB)


class ExactSearch:
    """Exact top-k cosine search over all of a taxonomy's skills, and its metrics on gold sets.

    The skills are embedded once, on first use; build a new search when the model changes.

    Example:
        >>> search = ExactSearch(E5Embeddings(model_name="all-MiniLM-L6-v2"), skills)
        >>> gold = {"tech": load_gold_set("tech_validation.jsonl", skills)}
        >>> search.evaluate(gold, k=30)["tech"]["rp@5"]
        0.502
    """

    def __init__(
        self,
        embeddings: Embeddings,
        documents: Sequence[Document],
        *,
        context: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
    ) -> None:
        """Search `documents` with `embeddings`.

        Args:
            embeddings: The model; its vectors are expected to be L2-normalized.
            documents: The skills; their `page_content` is embedded as passages.
            context: Entered around every embedding call, for example to run a model that
                is being trained under `torch.autocast`.
        """
        self.embeddings = embeddings
        self.documents = list(documents)
        self._context = context
        self._passages: torch.Tensor | None = None
        self._candidates: dict[tuple[tuple[str, ...], int], list[list[int]]] = {}

    def _vectors(self, texts: list[str], *, queries: bool) -> torch.Tensor:
        import torch

        with self._context():
            if queries:
                vectors = embed_queries(self.embeddings, texts)
            else:
                vectors = self.embeddings.embed_documents(texts)
        return torch.tensor(vectors, dtype=torch.float32)

    @property
    def passages(self) -> torch.Tensor:
        """The skills' vectors, one row per document."""
        if self._passages is None:
            texts = [doc.page_content for doc in self.documents]
            self._passages = self._vectors(texts, queries=False)
        return self._passages

    def top_k(self, queries: Sequence[str], k: int) -> list[list[int]]:
        """Return the indices (into `documents`) of each query's `k` nearest skills, best first."""
        import torch

        if not queries:
            return []
        vectors = self._vectors(list(queries), queries=True)
        k = min(k, len(self.documents))
        ranked: list[list[int]] = []
        for start in range(0, vectors.shape[0], _SEARCH_CHUNK):
            scores = vectors[start : start + _SEARCH_CHUNK] @ self.passages.T
            ranked.extend(torch.topk(scores, k, dim=1).indices.tolist())
        return ranked

    def evaluate(
        self,
        gold_sets: Mapping[str, GoldSet],
        *,
        k: int,
        reranker: BaseDocumentCompressor | None = None,
    ) -> dict[str, dict[str, float]]:
        """Score the top `k` skills of each gold query, as retrieved or re-ordered by `reranker`.

        The candidates of a gold set are retrieved once and reused, so several rerankers are
        compared on the same candidates.

        Args:
            gold_sets: Name -> gold set, resolved against `documents`.
            k: Skills retrieved per query (the model card: 30).
            reranker: Re-orders each query's candidates, e.g. a `SkillReranker` with
                `top_n=k`; None keeps the retrieved order.

        Returns:
            Gold set name -> metric name -> value (`compute_metrics`' defaults).
        """
        results: dict[str, dict[str, float]] = {}
        for name, gold in gold_sets.items():
            query_ids = list(gold.queries)
            texts = tuple(gold.queries[q] for q in query_ids)
            if (texts, k) not in self._candidates:
                self._candidates[texts, k] = self.top_k(texts, k)
            run: dict[str, list[str]] = {}
            for query_id, text, indices in zip(query_ids, texts, self._candidates[texts, k]):
                docs: Sequence[Document] = [self.documents[i] for i in indices]
                if reranker is not None:
                    docs = reranker.compress_documents(docs, text)
                run[query_id] = [str(doc.id) for doc in docs]
            results[name] = compute_metrics(run, gold.relevant)
        return results
