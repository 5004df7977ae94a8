"""Nearest skills for many query vectors, with requests sized by what they return."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_chroma import Chroma
from langchain_core.documents import Document

from langchain_course_skills.store._storage import store_faults
from langchain_course_skills.store.location import _store_label, skill_collection, store_client

_QUERY_PAGE = 512  # query vectors per search request (a few MB of JSON to a server)
# Results (query vectors x n_results) per search request. Chroma reads the matched records
# with one SQL statement per request, one variable per result, and SQLite allows 32,766
# (measured with chromadb 1.5: 10 x 3,276 results pass, 10 x 3,277 fail), locally and on a
# server; the rest is left for the filter's variables.
MAX_RESULTS = 30_000


def search_vectors(
    store: Chroma, vectors: Sequence[Sequence[float]], k: int, where: dict[str, Any] | None
) -> list[list[tuple[Document, float]]]:
    """Return, for each vector, its `k` nearest skills and their cosine distance.

    Gives per vector what `store.similarity_search_by_vector_with_relevance_scores` gives,
    which asks Chroma once per vector; Chroma's collection answers many vectors at once, in
    requests of at most MAX_RESULTS results (`k` is capped at that).
    """
    results: list[list[tuple[Document, float]]] = []
    collection = skill_collection(store)  # langchain-chroma searches one vector per call
    k = min(k, MAX_RESULTS)
    per_request = max(1, min(_QUERY_PAGE, MAX_RESULTS // k))
    for start in range(0, len(vectors), per_request):
        page: list[Sequence[float]] = [list(v) for v in vectors[start : start + per_request]]
        with store_faults(_store_label(None, store_client(store))):
            found = collection.query(
                query_embeddings=page,
                n_results=k,
                where=where,
                include=["documents", "metadatas", "distances"],
            )
        for ids, texts, metadatas, distances in zip(
            found["ids"],
            found["documents"] or [],
            found["metadatas"] or [],
            found["distances"] or [],
        ):
            results.append(
                [
                    (Document(page_content=text, metadata=dict(meta or {}), id=doc_id), distance)
                    for doc_id, text, meta, distance in zip(ids, texts, metadatas, distances)
                    if text is not None
                ]
            )
    return results


def skill_vectors(store: Chroma, ids: Sequence[str]) -> dict[str, list[float]]:
    """Return the stored vector of each skill in `ids` (its main passage); unknown ids are left out.

    Reads in pages of `_QUERY_PAGE` ids, so any number of ids stays under the client's limits.
    """
    vectors: dict[str, list[float]] = {}
    collection = skill_collection(store)
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), _QUERY_PAGE):
        with store_faults(_store_label(None, store_client(store))):
            found = collection.get(ids=unique[start : start + _QUERY_PAGE], include=["embeddings"])
        embeddings = found["embeddings"]
        if embeddings is None:
            continue
        for doc_id, vector in zip(found["ids"], embeddings):
            vectors[doc_id] = [float(x) for x in vector]
    return vectors
