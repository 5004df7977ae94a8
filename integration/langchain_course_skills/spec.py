"""`RetrieverSpec`: the one way from options to a `SkillRetriever`.

Every face builds its retriever from a spec: the command line's `search`, `map` and `serve`
(from their shared options), `map_courses` on Ray (each worker builds its own from the spec it
is sent), and Python callers who would rather name models than load them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from langchain_course_skills.fusion import DEFAULT_FUSION, DEFAULT_VIEW_FUSION, Fusion, ViewFusion
from langchain_course_skills.models.options import Backend, Precision
from langchain_course_skills.store._chroma_http import DEFAULT_TIMEOUT
from langchain_course_skills.vocabulary import (
    DEFAULT_COLLECTION,
    DEFAULT_EMBEDDING_MODEL,
    DEFAULT_K,
    DEFAULT_TOP_N,
    check_score_threshold,
)

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from langchain_chroma import Chroma

    from langchain_course_skills.cross_encoders import SkillCrossEncoder
    from langchain_course_skills.embeddings import E5Embeddings
    from langchain_course_skills.retrievers import SkillRetriever


class RetrieverSpec(BaseModel):
    """How to build a `SkillRetriever`: models, store and result options, by name.

    It holds only names and numbers, so it can be sent to a Ray worker, stored or compared; the
    models load and the store opens in `build`.

    Example:
        >>> spec = RetrieverSpec(model="./e5-course-skills", chroma_url="http://db:8000",
        ...                      reranker="./bge-reranker-course-skills", top_n=10)
        >>> retriever = spec.build()  # loads both models and connects to the store
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = DEFAULT_EMBEDDING_MODEL
    """The embedding model (Hub id or local folder) the store was built with."""
    reranker: str | None = None
    """A cross-encoder (Hub id or local folder) to re-rank with; None: no re-ranking."""
    device: str = "auto"
    """Torch device of both models; "auto" picks cuda, then mps, then cpu."""
    precision: Precision = "auto"
    """Number format of both models (see `E5Embeddings.precision`)."""
    backend: Backend = "auto"
    """What computes both models (see `E5Embeddings.backend`)."""
    batch_size: int | None = Field(default=None, gt=0)
    """Texts per forward pass of the embedding model (None: its default)."""
    persist_directory: str | None = None
    """Folder of an embedded Chroma store (one machine only)."""
    chroma_url: str | None = None
    """A Chroma server, e.g. http://HOST:8000, instead of `persist_directory`."""
    chroma_token: str | None = None
    """Bearer token of the Chroma server."""
    chroma_timeout: float = Field(default=DEFAULT_TIMEOUT, gt=0)
    """Seconds the Chroma server may take to answer one request."""
    collection: str = DEFAULT_COLLECTION
    """The store's collection."""
    k: int = Field(default=DEFAULT_K, gt=0)
    """Candidates per course (and per passage of a long one)."""
    top_n: int = Field(default=DEFAULT_TOP_N, gt=0)
    """Skills kept per course: the best after re-ranking, else the first of the `k`."""
    taxonomies: list[str] | None = None
    """Only skills of these taxonomies."""
    min_score: float | None = None
    """Drop skills below this (in [0, 1]): the relevance with a reranker, else the similarity."""
    fusion: Fusion = DEFAULT_FUSION
    """How the passages of a long course combine (see `SkillRetriever.fusion`)."""
    view_fusion: ViewFusion = DEFAULT_VIEW_FUSION
    """How a skill's views combine (see `SkillRetriever.view_fusion`)."""

    @field_validator("min_score")
    @classmethod
    def _check_min_score(cls, value: float | None) -> float | None:
        return check_score_threshold(value, "min_score")

    def build(self, *, client: ClientAPI | None = None) -> SkillRetriever:
        """Load the models, open the store and return the retriever.

        Args:
            client: A Chroma client already connected to the store (a face that checked the
                store first passes its own); default: connect as the spec says.
        """
        from langchain_course_skills.store import open_skill_store

        embeddings = self.embeddings()
        cross_encoder = self.cross_encoder()
        store = open_skill_store(
            embeddings, collection_name=self.collection, **self._location(client)
        )
        return self.over(store, cross_encoder)

    def embeddings(self) -> E5Embeddings:
        """Load the embedding model as the spec says."""
        from langchain_course_skills.embeddings import E5Embeddings

        return E5Embeddings(
            model_name=self.model,
            device=self.device,
            precision=self.precision,
            backend=self.backend,
            batch_size=self.batch_size,
        )

    def cross_encoder(self) -> SkillCrossEncoder | None:
        """Load the reranker's cross-encoder as the spec says (None without `reranker`)."""
        from langchain_course_skills.cross_encoders import SkillCrossEncoder

        if not self.reranker:
            return None
        return SkillCrossEncoder(
            model_name=self.reranker,
            device=self.device,
            precision=self.precision,
            backend=self.backend,
        )

    def over(self, store: Chroma, cross_encoder: SkillCrossEncoder | None = None) -> SkillRetriever:
        """Return the retriever with the spec's result options over a store already open.

        For a face that builds or syncs the store with its own `embeddings()` first (the
        demo); `cross_encoder` comes from `cross_encoder()`.
        """
        from langchain_course_skills.compressors import SkillReranker
        from langchain_course_skills.retrievers import SkillRetriever

        reranker = None
        if cross_encoder is not None:
            reranker = SkillReranker(
                cross_encoder=cross_encoder, top_n=self.top_n, score_threshold=self.min_score
            )
        return SkillRetriever(
            store=store,
            k=self.k,
            top_n=self.top_n if reranker else min(self.top_n, self.k),
            score_threshold=None if reranker else self.min_score,
            taxonomies=self.taxonomies,
            reranker=reranker,
            fusion=self.fusion,
            view_fusion=self.view_fusion,
        )

    def _location(self, client: ClientAPI | None) -> dict[str, Any]:
        if client is not None:
            return {"client": client}
        if self.chroma_url:
            from langchain_course_skills.store._chroma_http import connect_chroma_server

            return {
                "client": connect_chroma_server(
                    self.chroma_url, self.chroma_token, timeout=self.chroma_timeout
                )
            }
        return {"persist_directory": self.persist_directory or "skills-db"}
