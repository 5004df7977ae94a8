"""Run the retrieval pipeline over a gold set and score it, per configuration.

A configuration is a `SkillRetriever`: a store (model + passage template), the number of
candidates, and optionally a reranker. `evaluate` retrieves for every gold query, as the model
card's evaluation does (top 30 by cosine similarity, optionally re-ranked), and returns the
averaged metrics and the per-query results for error analysis.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from langchain_course_skills._protocols import FingerprintedEmbeddings
from langchain_course_skills.compressors import RELEVANCE_KEY, SkillReranker
from langchain_course_skills.cross_encoders import SkillCrossEncoder
from langchain_course_skills.evaluation.gold import (
    GoldQuery,
    GoldSetError,
    load_gold,
    resolve_relevant,
    skill_labels,
)
from langchain_course_skills.evaluation.metrics import mean_metrics, query_metrics
from langchain_course_skills.fusion import DEFAULT_VIEW_FUSION, ViewFusion
from langchain_course_skills.retrievers import (
    DEFAULT_K,
    SIMILARITY_KEY,
    SkillRetriever,
)
from langchain_course_skills.store import (
    DEFAULT_WRITE_BATCH,
    SyncReport,
    embeddings_fingerprint,
    read_fingerprint,
    skill_collection,
    stored_views,
    sync_skill_store,
)
from langchain_course_skills.views import DEFAULT_VIEWS, SINGLE_VIEW, check_views
from langchain_course_skills.vocabulary import TEMPLATE_KEY

if TYPE_CHECKING:
    from uuid import UUID

    from chromadb.api import ClientAPI
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings

logger = logging.getLogger(__name__)

DEFAULT_QUERY_BATCH = 64  # queries embedded per step; the progress bar advances per query
# The metrics of the terminal table and the chart: the skill-extraction literature's rp@5,
# rp@10 and mrr@10, plus the model card's accuracy, NDCG and MAP.
REPORT_METRICS = ("rp@5", "rp@10", "mrr@10", "accuracy@1", "accuracy@5", "ndcg@10", "map@100")
COLLECTION_PREFIX = "eval-"  # collections that `sync_evaluation_store` names
_HASH_CHARS = 10  # hex digits of the configuration hash in a collection name


@dataclass(frozen=True)
class RetrievedSkill:
    """One retrieved skill of a query, in rank order."""

    id: str
    """The skill's id (URI)."""
    label: str
    """The skill's label."""
    similarity: float
    """Cosine similarity of the first stage."""
    relevance_score: float | None = None
    """The reranker's score, if the configuration re-ranks."""

    @property
    def score(self) -> float:
        """The score the ranking follows: the reranker's if there is one, else the similarity."""
        return self.similarity if self.relevance_score is None else self.relevance_score


@dataclass(frozen=True)
class QueryResult:
    """What one configuration retrieved for one gold query, and how it scored."""

    query_id: str
    """The gold query's id."""
    query: str
    """The course text."""
    relevant: tuple[str, ...]
    """Ids of the relevant skills, sorted."""
    retrieved: tuple[RetrievedSkill, ...]
    """What the pipeline returned, best first."""
    metrics: dict[str, float]
    """This query's metrics (their mean over queries is the configuration's)."""

    @property
    def first_hit(self) -> int | None:
        """Rank (1-based) of the first relevant skill retrieved, None if none was."""
        relevant = set(self.relevant)
        return next((i for i, s in enumerate(self.retrieved, 1) if s.id in relevant), None)


@dataclass(frozen=True)
class ConfigurationResult:
    """The metrics and per-query results of one configuration."""

    name: str
    """The configuration's name, as passed to `evaluate`."""
    metrics: dict[str, float]
    """Each metric's mean over the queries."""
    queries: tuple[QueryResult, ...]
    """Per-query results, in gold order."""
    details: dict[str, Any] = field(default_factory=dict)
    """What the configuration is: model, precision, passage template, collection, k, reranker."""
    seconds: float = 0.0
    """Wall time of retrieving and scoring all queries."""


@dataclass(frozen=True)
class EvaluationResult:
    """The results of `evaluate`: one `ConfigurationResult` per configuration."""

    configurations: dict[str, ConfigurationResult]
    """Configuration name -> its result, in the order given."""

    @property
    def metrics(self) -> dict[str, dict[str, float]]:
        """Configuration name -> metric -> mean over the queries."""
        return {name: result.metrics for name, result in self.configurations.items()}

    def table(self, metric_names: Sequence[str] = REPORT_METRICS, *, markdown: bool = False) -> str:
        """Return the metrics as a table in percent, one row per configuration."""
        return metrics_table(self.metrics, metric_names, markdown=markdown)

    def to_dict(self, *, per_query: bool = False) -> dict[str, Any]:
        """Return a JSON-ready dict; with `per_query`, each configuration's queries too."""
        out: dict[str, Any] = {}
        for name, result in self.configurations.items():
            entry: dict[str, Any] = {
                "details": result.details,
                "queries": len(result.queries),
                "seconds": round(result.seconds, 3),
                "metrics": result.metrics,
            }
            if per_query:
                entry["per_query"] = [query_record(q) for q in result.queries]
            out[name] = entry
        return out


def query_record(result: QueryResult) -> dict[str, Any]:
    """Return one query's result as a JSON-ready dict, for error analysis."""
    return {
        "query_id": result.query_id,
        "query": result.query,
        "relevant": list(result.relevant),
        "first_hit": result.first_hit,
        "metrics": result.metrics,
        "retrieved": [
            {
                "id": skill.id,
                "label": skill.label,
                "relevant": skill.id in result.relevant,
                "similarity": round(skill.similarity, 6),
                "relevance_score": (
                    None if skill.relevance_score is None else round(skill.relevance_score, 6)
                ),
            }
            for skill in result.retrieved
        ],
    }


def _table(
    labels: Sequence[str],
    rows: Sequence[tuple[Sequence[str], Mapping[str, float]]],
    metric_names: Sequence[str],
    *,
    markdown: bool,
) -> str:
    header = [*labels, *metric_names]
    cells = [
        [*names, *(f"{100 * row[m]:.1f}" if m in row else "-" for m in metric_names)]
        for names, row in rows
    ]
    if markdown:
        rule = "|---" * len(labels) + "|---:" * len(metric_names) + "|"
        lines = ["| " + " | ".join(line) + " |" for line in [header, *cells]]
        return "\n".join([lines[0], rule, *lines[1:]])
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i < len(labels) else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in [header, *cells]
    )


def metrics_table(
    metrics: Mapping[str, Mapping[str, float]],
    metric_names: Sequence[str] = REPORT_METRICS,
    *,
    markdown: bool = False,
) -> str:
    """Format metrics (row name -> metric -> value in [0, 1]) as a table in percent.

    Metrics that a row lacks show as "-"; `markdown` gives a GitHub table.
    """
    rows = [((name,), row) for name, row in metrics.items()]
    return _table(["configuration"], rows, metric_names, markdown=markdown)


def grouped_metrics_table(
    groups: Mapping[str, Mapping[str, Mapping[str, float]]],
    metric_names: Sequence[str] = REPORT_METRICS,
    *,
    labels: tuple[str, str] = ("evaluation set", "configuration"),
    markdown: bool = False,
) -> str:
    """Format the metrics of several evaluation sets as one table, with a column for the set.

    Like `metrics_table`, for set -> row name -> metric -> value.

    Example:
        >>> print(grouped_metrics_table({"tech": {"base": {"rp@5": 0.5}}}, ["rp@5"]))
        evaluation set  configuration  rp@5
        tech            base           50.0
    """
    rows = [((group, name), row) for group, table in groups.items() for name, row in table.items()]
    return _table(labels, rows, metric_names, markdown=markdown)


def _retrieved(doc: Document) -> RetrievedSkill:
    relevance = doc.metadata.get(RELEVANCE_KEY)
    return RetrievedSkill(
        id=str(doc.id),
        label=str(doc.metadata.get("label", doc.page_content)),
        similarity=float(doc.metadata.get(SIMILARITY_KEY, math.nan)),
        relevance_score=None if relevance is None else float(relevance),
    )


def _precision(embeddings: object) -> str:
    """What computes `embeddings` ("openvino bf16"), else its model's dtype, else ""."""
    runtime = getattr(embeddings, "runtime", None)
    if runtime is not None:
        return str(runtime)
    dtype = getattr(getattr(embeddings, "client", None), "dtype", None)
    return "" if dtype is None else str(dtype).removeprefix("torch.")


def describe_retriever(retriever: SkillRetriever) -> dict[str, Any]:
    """Return what a configuration is: model, precision, passage template, collection, reranker."""
    store = retriever.store
    collection = skill_collection(store)
    stored = read_fingerprint(collection)
    details: dict[str, Any] = {
        "collection": collection.name,
        "model": stored.get("model", ""),
        "passage_template": stored.get("passage_template", ""),
        "k": retriever.k,
        "fusion": retriever.fusion,
        "views": ",".join(stored_views(stored)),
        "view_fusion": retriever.view_fusion,
    }
    embeddings = store.embeddings
    if isinstance(embeddings, FingerprintedEmbeddings):
        details["model"] = embeddings.fingerprint()["model"]
    precision = _precision(embeddings)
    if precision:
        details["precision"] = precision
    reranker = retriever.reranker
    if reranker is not None:
        encoder = getattr(reranker, "cross_encoder", None)
        name = encoder.model_name if isinstance(encoder, SkillCrossEncoder) else None
        details["reranker"] = name or type(reranker).__name__
        details["top_n"] = retriever.top_n or getattr(reranker, "top_n", None)
    return details


def _evaluate_one(
    name: str,
    retriever: SkillRetriever,
    queries: Sequence[GoldQuery],
    relevant: Mapping[str, frozenset[str]],
    ks: Sequence[int] | None,
    batch_size: int,
    show_progress: bool,
) -> ConfigurationResult:
    started = time.perf_counter()
    if retriever.store.embeddings is None:
        msg = f"the store of configuration {name!r} has no embeddings; open it with embeddings"
        raise ValueError(msg)
    judged = [q for q in queries if q.query_id in relevant]
    results = []
    with tqdm(total=len(judged), desc=name, unit="query", disable=not show_progress) as bar:
        for start in range(0, len(judged), batch_size):
            chunk = judged[start : start + batch_size]
            found = retriever.search_many([q.query for q in chunk])
            for query, documents in zip(chunk, found, strict=True):
                retrieved = tuple(_retrieved(d) for d in documents)
                ranking = [skill.id for skill in retrieved]
                relevant_ids = relevant[query.query_id]
                results.append(
                    QueryResult(
                        query_id=query.query_id,
                        query=query.query,
                        relevant=tuple(sorted(relevant_ids)),
                        retrieved=retrieved,
                        metrics=query_metrics(ranking, relevant_ids, ks),
                    )
                )
                bar.update()
    metrics = mean_metrics([result.metrics for result in results])
    return ConfigurationResult(
        name=name,
        metrics=metrics,
        queries=tuple(results),
        details=describe_retriever(retriever),
        seconds=time.perf_counter() - started,
    )


def evaluate(
    gold: Sequence[GoldQuery] | str | Path,
    retrievers: Mapping[str, SkillRetriever],
    *,
    ks: Sequence[int] | None = None,
    strict: bool = True,
    batch_size: int = DEFAULT_QUERY_BATCH,
    show_progress: bool = True,
) -> EvaluationResult:
    """Retrieve for every gold query with each retriever and score the rankings.

    Each retriever is run as `retriever.invoke(query)` would run it (its `k` candidates by
    cosine similarity, its filters, its reranker and `top_n`, long queries split into
    passages), batched by `SkillRetriever.search_many`. For the model card's protocol give
    each retriever `k=30`, and a reranker with `top_n=30`, so that it re-orders all 30
    candidates.

    Example:
        >>> result = evaluate("tech_validation.jsonl", {"minilm": SkillRetriever(store=store)})
        >>> print(result.table())  # all-MiniLM-L6-v2 over English ESCO labels, in percent
        configuration  rp@5  rp@10  mrr@10  accuracy@1  accuracy@5  ndcg@10  map@100
        minilm         50.2   56.3    44.7        32.0        64.0     44.1     37.9

    Args:
        gold: Gold queries from `load_gold`, or the path of a gold file.
        retrievers: Configuration name -> retriever; relevant labels are resolved against
            each retriever's store.
        ks: Cutoffs applied to every metric; None uses the defaults of `compute_metrics`.
        strict: Raise on gold entries that are not in a store; False skips them.
        batch_size: Queries embedded per step.
        show_progress: Show a progress bar over the queries of each configuration.

    Returns:
        The metrics and the per-query results of each configuration.

    Raises:
        GoldSetError: The gold file is malformed, or (with `strict`) names skills that are not
            in a store.
        ValueError: No retrievers, or a batch size that is not positive.
    """
    queries = load_gold(gold) if isinstance(gold, (str, Path)) else list(gold)
    if not queries:
        msg = "the gold set has no queries; load one with load_gold(path)"
        raise GoldSetError(msg)
    if not retrievers:
        msg = "retrievers is empty; pass at least one, e.g. {'base': SkillRetriever(store=...)}"
        raise ValueError(msg)
    if batch_size <= 0:
        msg = f"batch_size must be positive, got {batch_size}"
        raise ValueError(msg)
    resolved: dict[UUID, dict[str, frozenset[str]]] = {}
    configurations = {}
    for name, retriever in retrievers.items():
        # Configurations that share a collection (with and without reranker) resolve once.
        key = skill_collection(retriever.store).id
        if key not in resolved:
            labels = skill_labels(retriever.store)
            resolved[key] = resolve_relevant(queries, labels, strict=strict)
        configurations[name] = _evaluate_one(
            name, retriever, queries, resolved[key], ks, batch_size, show_progress
        )
        logger.info("%s: %s", name, configurations[name].metrics)
    return EvaluationResult(configurations=configurations)


def evaluation_collection_name(
    embeddings: Embeddings, passage_template: str, views: Sequence[str] = DEFAULT_VIEWS
) -> str:
    """Name the collection of one (model, precision, passage template, views) configuration.

    The precision is part of the name so that a bf16 evaluation never reuses fp32 vectors.
    """
    model = str(embeddings_fingerprint(embeddings)["model"])
    parts = [model, _precision(embeddings), passage_template]
    if tuple(views) != SINGLE_VIEW:  # one-view collections keep the names they had before views
        parts.append(",".join(views))
    key = "\n".join(parts)
    return COLLECTION_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()[:_HASH_CHARS]


def sync_evaluation_store(
    documents: Sequence[Document],
    embeddings: Embeddings,
    *,
    persist_directory: str | Path | None = None,
    client: ClientAPI | None = None,
    batch_size: int = DEFAULT_WRITE_BATCH,
    show_progress: bool = True,
    views: Sequence[str] = DEFAULT_VIEWS,
) -> SyncReport:
    """Build or reuse the store of one configuration in its own collection.

    The collection is named by `evaluation_collection_name` (model, precision, the passage
    template of `documents` and `views`) and holds exactly `documents` (pruned), so running it
    again with the same taxonomy embeds nothing. `views` default to `DEFAULT_VIEWS`, as a new
    store's; `views=("label",)` stores one passage per skill.

    Example:
        >>> docs = load_esco_skills("skills_en.csv", passage_template="{preferredLabel}")
        >>> report = sync_evaluation_store(docs, embeddings, persist_directory="eval-db")
        >>> retriever = SkillRetriever(store=report.store, k=30)

    Returns:
        The sync report, whose `store` is ready to search.
    """
    templates = sorted({str(doc.metadata.get(TEMPLATE_KEY, "")) for doc in documents})
    views = check_views(views)
    name = evaluation_collection_name(embeddings, " | ".join(templates), views)
    return sync_skill_store(
        documents,
        embeddings,
        persist_directory=persist_directory,
        client=client,
        collection_name=name,
        prune=True,
        batch_size=batch_size,
        show_progress=show_progress,
        views=views,
    )


def reranking_retriever(
    store: Chroma,
    reranker: SkillReranker | SkillCrossEncoder,
    *,
    k: int = DEFAULT_K,
    view_fusion: ViewFusion = DEFAULT_VIEW_FUSION,
) -> SkillRetriever:
    """Return the model card's re-ranking configuration: k candidates, all k re-ordered."""
    if isinstance(reranker, SkillCrossEncoder):
        reranker = SkillReranker(cross_encoder=reranker, top_n=k)
    return SkillRetriever(store=store, k=k, reranker=reranker, top_n=k, view_fusion=view_fusion)
