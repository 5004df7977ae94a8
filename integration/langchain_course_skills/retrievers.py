"""Retrieve scored skills for a course text, optionally re-ranked by a cross-encoder."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from langchain_chroma import Chroma
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import AliasChoices, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from langchain_course_skills._protocols import TokenizedEmbeddings
from langchain_course_skills.compressors import SkillReranker
from langchain_course_skills.embeddings import embed_queries
from langchain_course_skills.fusion import (
    DEFAULT_FUSION,
    DEFAULT_VIEW_FUSION,
    Fusion,
    ViewFusion,
    fuse_passages,
    fuse_scores,
)
from langchain_course_skills.passages import DEFAULT_OVERLAP_TOKENS, Passage, split_passages
from langchain_course_skills.store import (
    MAX_RESULTS,
    check_taxonomies,
    cosine_similarity,
    search_vectors,
    skill_collection,
    store_layout,
)
from langchain_course_skills.views import (
    FETCH_GROWTH,
    passage_skill,
    passages_to_fetch,
    skill_result,
    view_kind,
)
from langchain_course_skills.vocabulary import (
    DEFAULT_K,
    DEFAULT_PASSAGE_TOKENS,
    EVIDENCE_KEY,
    RELEVANCE_KEY,
    SIMILARITY_KEY,
    check_score_threshold,
    check_text,
    check_texts,
)

if TYPE_CHECKING:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForRetrieverRun,
        CallbackManagerForRetrieverRun,
        Callbacks,
    )

logger = logging.getLogger(__name__)

# Texts encoded together differ in length by at most this factor. Padding a short text to a
# long one costs more than batching gains on a CPU: 16 course texts of 40-150 tokens took 2-3x
# longer in one batch than one by one with an e5-base-sized model; of similar lengths, 1.2x
# less (benchmarks/map_throughput.py).
LENGTH_RATIO = 1.25
MIN_PASSAGE_TOKENS = 16  # a shorter passage says too little to retrieve with


def _check_sizes(k: int, top_n: int | None) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k <= 0:
        msg = f"k must be a positive integer (candidates to retrieve), got {k!r}"
        raise ValueError(msg)
    if top_n is None:
        return
    if not isinstance(top_n, int) or isinstance(top_n, bool) or top_n <= 0:
        msg = f"top_n must be a positive integer (skills kept after re-ranking), got {top_n!r}"
        raise ValueError(msg)
    if top_n > k:
        msg = (
            f"top_n ({top_n}) is larger than k ({k}); only the best top_n of the k candidates "
            "are kept, so raise k or lower top_n"
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


def _evidence(passage: Passage) -> dict[str, int]:
    return {"start": passage.start, "end": passage.end}


def _span(doc: Document) -> tuple[int, int]:
    evidence = doc.metadata[EVIDENCE_KEY]
    return evidence["start"], evidence["end"]


class SkillRetriever(BaseRetriever):
    """Find the skills a course teaches: cosine search in a skill store, then optional re-ranking.

    Each document carries `metadata["similarity"]` (cosine similarity); with a reranker, the
    best `top_n` of the `k` candidates are returned with `metadata["relevance_score"]` too.

    A text longer than the embedding model reads is split into passages (sentence boundaries,
    a small overlap); each passage retrieves `k` candidates, the candidates are fused per skill
    (`fusion`), and the reranker scores each one against the passage that found it.
    `metadata["evidence"]` holds the character offsets `{"start", "end"}` of that passage in
    the given text (the whole text when it fits the model).

    Example:
        >>> retriever = SkillRetriever(store=store, k=30, reranker=SkillReranker(...), top_n=5)
        >>> [(d.metadata["label"], round(d.metadata["relevance_score"], 2))
        ...  for d in retriever.invoke("WordPress Grundlagen ...")]
        [('WordPress', 0.97), ('Software für Content-Management-Systeme nutzen', 0.91), ...]
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    store: Chroma = Field(validation_alias=AliasChoices("store", "vectorstore"))
    """The skill store, from `build_skill_store` or `open_skill_store`; also accepted as
    `vectorstore=`, as LangChain's `VectorStoreRetriever` names it."""
    k: int = Field(default=DEFAULT_K)
    """Candidates retrieved by cosine similarity; `invoke(query, k=...)` overrides it."""
    score_threshold: float | None = None
    """Drop candidates whose cosine similarity is below this (a score in [0, 1])."""
    taxonomies: list[str] | None = None
    """Only skills of these taxonomies, for example ["ESCO"] (names as stored: a name the
    store does not hold is refused with `TaxonomyError`)."""
    filter: dict[str, Any] | None = None
    """A raw Chroma `where` filter on skill metadata, for example {"skill_type": "knowledge"}."""
    reranker: BaseDocumentCompressor | None = None
    """Re-ranks the candidates, for example `SkillReranker`."""
    top_n: int | None = None
    """Skills kept of the `k` candidates: the best after re-ranking (default: the reranker's
    own), or without a reranker the first `top_n` (default: all `k`); `invoke(..., top_n=...)`."""
    fusion: Fusion = DEFAULT_FUSION
    """How the candidates of a long text's passages combine per skill: "relative" (best
    similarity above its passage's weakest candidate), "max" (best cosine similarity), "rrf"
    (reciprocal-rank fusion) or "round_robin" (best rank in a passage)."""
    view_fusion: ViewFusion = DEFAULT_VIEW_FUSION
    """How a skill's views (alternative labels, description, languages) combine in a store
    built with several: "blend" (the default: mean of the best label and description match,
    or the best alternative label less a margin if higher), "max" (best view), "mean" (mean
    of the best name and the best description match) or "rrf" (reciprocal-rank fusion of the
    names and descriptions rankings). Each skill is returned once, as its main text, with the
    view that matched; see docs/views.md for the measurements."""
    passage_tokens: int | None = Field(default=DEFAULT_PASSAGE_TOKENS, ge=MIN_PASSAGE_TOKENS)
    """Tokens per passage of a long text (prefix and special tokens included, at most the
    model's limit); None: the model's limit. Texts within the model's limit are never split."""
    passage_overlap: int = Field(default=DEFAULT_OVERLAP_TOKENS, ge=0)
    """Tokens (whole sentences) of a passage repeated at the start of the next."""

    _known_taxonomies: set[str] = PrivateAttr(default_factory=set)
    """Taxonomy names the store was found to hold (shared by `model_copy`s)."""

    @model_validator(mode="after")
    def _check(self) -> SkillRetriever:
        _check_sizes(self.k, self.top_n)
        return self

    @field_validator("score_threshold")
    @classmethod
    def _check_threshold(cls, value: float | None) -> float | None:
        return check_score_threshold(value, "score_threshold")

    def _check_taxonomies(self) -> None:
        """Refuse a taxonomy filter that names a taxonomy the store does not hold."""
        unchecked = [name for name in self.taxonomies or () if name not in self._known_taxonomies]
        if unchecked:
            check_taxonomies(skill_collection(self.store), unchecked)
            self._known_taxonomies.update(unchecked)

    def _candidates(self, vectors: list[list[float]], k: int) -> list[list[Document]]:
        """Return each vector's `k` nearest skills with their cosine similarity."""
        self._check_taxonomies()
        where = skill_filter(self.taxonomies, self.filter)
        layout = store_layout(self.store)
        if not layout.single:
            return self._fused_candidates(
                vectors, k, where, passages_to_fetch(k, layout.passages_per_skill)
            )
        lists = []
        for found in search_vectors(self.store, vectors, k, where):
            documents = []
            for doc, distance in found:
                similarity = cosine_similarity(distance)
                if self.score_threshold is not None and similarity < self.score_threshold:
                    continue
                metadata = {**doc.metadata, SIMILARITY_KEY: similarity}
                documents.append(doc.model_copy(update={"metadata": metadata}))
            lists.append(documents)
        return lists

    def _skills(self, found: list[tuple[Document, float]]) -> tuple[list[Document], int]:
        """Fuse one vector's passages per skill; return the skills and how many there were."""
        matches = [
            (
                passage_skill(str(doc.id), doc.metadata),
                view_kind(doc.metadata),
                cosine_similarity(distance),
            )
            for doc, distance in found
        ]
        fused = fuse_scores(matches, self.view_fusion)
        threshold = self.score_threshold
        skills = [
            skill_result(found[index][0], similarity)
            for _, similarity, index in fused
            if threshold is None or similarity >= threshold
        ]
        return skills, len(fused)

    def _fused_candidates(
        self, vectors: list[list[float]], k: int, where: dict[str, Any] | None, fetch: int
    ) -> list[list[Document]]:
        """Each vector's `k` nearest skills of a store with several passages per skill.

        Asks for `fetch` passages, and again for more (FETCH_GROWTH times as many) for the
        vectors whose passages named fewer than `k` skills, until the store has no more (or
        MAX_RESULTS passages, the most one request returns, name fewer than `k` skills).
        """
        lists: list[list[Document]] = [[] for _ in vectors]
        pending = list(range(len(vectors)))
        while pending:
            found = search_vectors(self.store, [vectors[i] for i in pending], fetch, where)
            deeper = []
            for index, passages in zip(pending, found, strict=True):
                skills, distinct = self._skills(passages)
                lists[index] = skills[:k]
                if distinct >= k:
                    continue
                if len(passages) >= fetch and fetch < MAX_RESULTS:
                    deeper.append(index)
                else:
                    logger.info(
                        "only %d distinct skills match (%d passages, filter %s); asked for %d",
                        distinct,
                        len(passages),
                        where,
                        k,
                    )
            pending, fetch = deeper, fetch * FETCH_GROWTH
        return lists

    def passages(self, texts: list[str]) -> list[list[Passage]]:
        """Return the passages each text is read in: the whole text if the model reads it all.

        Example:
            >>> [(p.start, p.end) for p in retriever.passages([long_course])[0]][:3]
            [(0, 118), (61, 187), (119, 240)]
        """
        embeddings = self.store.embeddings
        whole = [[Passage(0, len(text))] for text in texts]
        if not isinstance(embeddings, TokenizedEmbeddings):
            return whole  # no tokenizer to count with: the model reads what it can
        limit = embeddings.max_tokens
        counts = embeddings.token_counts(texts)
        if all(count <= limit for count in counts):
            return whole
        size = min(self.passage_tokens or limit, limit)
        budget = size - embeddings.count_tokens("")  # the prefix and special tokens

        def fits(passages: list[str]) -> list[bool]:
            return [count <= size for count in embeddings.token_counts(passages)]

        tokenizer = embeddings.tokenizer
        return [
            plan
            if count <= limit
            else split_passages(text, tokenizer, budget, overlap=self.passage_overlap, fits=fits)
            for text, count, plan in zip(texts, counts, whole)
        ]

    def _embed(self, texts: list[str]) -> list[list[float]]:
        """Embed texts as queries, batched by similar length (a text alone: as before)."""
        embeddings = self.store.embeddings
        if embeddings is None:
            msg = "the store has no embeddings; open it with open_skill_store(embeddings, ...)"
            raise ValueError(msg)
        order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
        vectors: list[list[float]] = [[] for _ in texts]
        start = 0
        while start < len(order):
            end = start + 1
            longest = max(1, len(texts[order[start]])) * LENGTH_RATIO
            while end < len(order) and len(texts[order[end]]) <= longest:
                end += 1
            group = order[start:end]
            found = embed_queries(embeddings, [texts[index] for index in group])
            for index, vector in zip(group, found):
                vectors[index] = vector
            start = end
        return vectors

    def _rerank(
        self,
        groups: list[list[tuple[str, Document]]],
        top_n: int | None,
        callbacks: Callbacks,
    ) -> list[list[Document]]:
        """Re-rank each text's (passage text, candidate) pairs; one batch with SkillReranker.

        Without a reranker, keep the first `top_n` candidates of each text.
        """
        reranker = self.reranker
        if reranker is None:
            return [[doc for _, doc in group][:top_n] for group in groups]
        if isinstance(reranker, SkillReranker):
            return reranker.rerank_many(groups, top_n=top_n)
        if top_n is not None and hasattr(reranker, "top_n"):
            reranker = reranker.model_copy(update={"top_n": top_n})
        reranked = []
        for group in groups:
            queries = list(dict.fromkeys(query for query, _ in group))
            if len(queries) <= 1:
                query = queries[0] if queries else ""
                docs = [doc for _, doc in group]
                reranked.append(list(reranker.compress_documents(docs, query, callbacks=callbacks)))
                continue
            # Any other compressor: one call per passage, merged by its relevance score.
            keep = getattr(reranker, "top_n", None)
            merged: list[Document] = []
            for query in queries:
                docs = [doc for text, doc in group if text == query]
                each = reranker.model_copy(update={"top_n": len(docs)}) if keep else reranker
                merged.extend(each.compress_documents(docs, query, callbacks=callbacks))
            merged.sort(key=lambda doc: doc.metadata.get(RELEVANCE_KEY, 0.0), reverse=True)
            reranked.append(merged[:keep] if keep else merged)
        return reranked

    def _search(
        self,
        texts: list[str],
        plans: list[list[Passage]],
        vectors: list[list[float]],
        k: int | None,
        top_n: int | None,
        callbacks: Callbacks,
    ) -> list[list[Document]]:
        """Retrieve, fuse and re-rank for texts whose passages are embedded (in plan order)."""
        k = self.k if k is None else k
        top_n = self.top_n if top_n is None else top_n
        _check_sizes(k, top_n)
        found = iter(self._candidates(vectors, k))
        groups = []
        for text, passages in zip(texts, plans):
            ranked = []
            for passage in passages:
                evidence = _evidence(passage)
                ranked.append(
                    [
                        doc.model_copy(
                            update={"metadata": {**doc.metadata, EVIDENCE_KEY: evidence}}
                        )
                        for doc in next(found)
                    ]
                )
            fused = ranked[0] if len(ranked) == 1 else fuse_passages(ranked, k, self.fusion)
            spans = {(p.start, p.end): p.of(text) for p in passages}
            groups.append([(spans[_span(doc)], doc) for doc in fused])
        return self._rerank(groups, top_n, callbacks)

    def _search_many(
        self, texts: list[str], k: int | None, top_n: int | None, callbacks: Callbacks
    ) -> list[list[Document]]:
        plans = self.passages(texts)
        passages = [p.of(text) for text, plan in zip(texts, plans) for p in plan]
        return self._search(texts, plans, self._embed(passages), k, top_n, callbacks)

    def search_many(
        self, texts: list[str], *, k: int | None = None, top_n: int | None = None
    ) -> list[list[Document]]:
        """Retrieve (and re-rank) for many course texts at once.

        Gives for each text what `invoke(text, k=k, top_n=top_n)` gives, but embeds all
        passages of all texts in one batched encode, asks the store for all of them in one
        request and scores the reranker pairs of all texts in one batch.

        Example:
            >>> [[d.metadata["label"] for d in docs]
            ...  for docs in retriever.search_many(["WordPress Kurs", "Excel Kurs"], k=2)]
            [['WordPress', 'Webseiten erstellen'], ['Tabellenkalkulation nutzen', 'Excel']]

        Args:
            texts: Course texts of any length.
            k: Candidates per text (and per passage of a long text); default `self.k`.
            top_n: Skills kept after re-ranking; default `self.top_n`.

        Returns:
            Per text, its skills, best first.
        """
        if not texts:
            return []
        return self._search_many(check_texts(texts, "texts"), k, top_n, None)

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        top_n: int | None = None,
    ) -> list[Document]:
        check_text(query, "query")
        return self._search_many([query], k, top_n, run_manager.get_child())[0]

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

        The query is taken as one passage, as a text within the model's limit is; for texts
        of any length and many at once, use `search_many`.
        """
        plan = [[Passage(0, len(query))]]
        return self._search([query], plan, [vector], k, top_n, callbacks)[0]

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
