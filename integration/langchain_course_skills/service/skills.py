"""What the service serves: a `SkillRetriever` over a verified store, and what /v1/info says.

The service does no retrieval of its own: it calls the library's retriever for a batch of
texts and reports the documents as `skill_hits` records, as the CLI's `--json` does, with the
curators' verdicts applied (`apply_verdicts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_course_skills.verdicts import apply_verdicts
from langchain_course_skills.vocabulary import skill_hits

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from langchain_course_skills.feedback import FeedbackStore
    from langchain_course_skills.retrievers import SkillRetriever
    from langchain_course_skills.spec import RetrieverSpec


def _search_many(
    retriever: SkillRetriever, texts: list[str], *, k: int, top_n: int | None
) -> list[list[Document]]:
    """Retrieve (and re-rank) for many texts at once: the one place the service searches."""
    search_many = getattr(retriever, "search_many", None)  # batched, where the library has it
    if search_many is not None:
        return list(search_many(texts, k=k, top_n=top_n))
    # One text after another: the models are busy with one text at a time anyway.
    return retriever.batch(texts, config={"max_concurrency": 1}, k=k, top_n=top_n)


def load_service(spec: RetrieverSpec, *, threads: int | None = None) -> SkillService:
    """Load the models, open and verify the store the spec names, and describe both.

    Args:
        spec: The retriever (its reranker, if any, is the service's).
        threads: Torch threads for this process; None keeps torch's default.
    """
    from langchain_course_skills.store import describe_collection, skill_collection

    if threads:
        import torch

        torch.set_num_threads(threads)
    retriever = spec.build()
    runtime = {"embedding": str(getattr(retriever.store.embeddings, "runtime", None))}
    if retriever.reranker is not None:  # a SkillReranker: the spec built it
        encoder = getattr(retriever.reranker, "cross_encoder", None)
        runtime["reranker"] = str(getattr(encoder, "runtime", None))
    models = {
        "embedding": spec.model,
        "reranker": spec.reranker,
        "device": spec.device,
        "precision": spec.precision,
        "backend": spec.backend,
        "runtime": runtime,
    }
    store_info = describe_collection(skill_collection(retriever.store))
    return SkillService(retriever=retriever, store_info=store_info, models=models)


@dataclass(frozen=True)
class SkillService:
    """The loaded models and the store, ready to search.

    Example:
        >>> service = SkillService(retriever, describe_collection(collection), models)
        >>> service.find(["WordPress Grundlagen"], k=30, top_n=5, taxonomies=None, rerank=True)
        [[{'rank': 1, 'label': 'WordPress', ...}, ...]]
    """

    retriever: SkillRetriever
    """Retrieves from the verified store; its reranker (or None) is the service's."""
    store_info: dict[str, Any]
    """The collection as `store.describe_collection` reports it: count, distance, taxonomies, ..."""
    models: dict[str, Any]
    """embedding, reranker (or None), device, precision, backend, runtime."""

    @property
    def can_rerank(self) -> bool:
        """Whether the service loaded a cross-encoder."""
        return self.retriever.reranker is not None

    @property
    def taxonomies(self) -> list[str]:
        """The taxonomies of the stored skills."""
        return sorted(self.store_info.get("taxonomies", {}))

    def find(
        self,
        texts: list[str],
        *,
        k: int,
        top_n: int | None,
        taxonomies: list[str] | None,
        rerank: bool,
        min_score: float | None = None,
        feedback: FeedbackStore | None = None,
        keep_rejected: bool = False,
    ) -> list[list[dict[str, Any]]]:
        """Return the ranked skill records of each text, in order: the best `top_n` of `k`.

        `min_score` drops skills below it: the reranker's relevance with `rerank`, else the
        first stage's similarity. With `feedback`, each record carries its verdict for that
        text, and rejected skills are left out unless `keep_rejected`.
        """
        reranker = self.retriever.reranker if rerank else None
        if reranker is not None and hasattr(reranker, "score_threshold"):
            reranker = reranker.model_copy(update={"score_threshold": min_score})
        retriever = self.retriever.model_copy(
            update={
                "taxonomies": taxonomies or None,
                "reranker": reranker,
                "top_n": None,
                "score_threshold": None if reranker else min_score,
            }
        )
        found = _search_many(retriever, texts, k=k, top_n=top_n)
        records = [[hit.to_record() for hit in skill_hits(documents)] for documents in found]
        if feedback is None:
            return records
        verdicts = feedback.course_verdicts(texts)
        return [
            apply_verdicts(course, judged, keep_rejected=keep_rejected)
            for course, judged in zip(records, verdicts)
        ]

    def skill(self, uri: str) -> dict[str, Any] | None:
        """Return the stored metadata of the skill with id `uri`, or None if there is none."""
        found = self.retriever.store.get(ids=[uri], include=["metadatas"])
        if not found["ids"]:
            return None
        return dict((found["metadatas"] or [{}])[0] or {})
