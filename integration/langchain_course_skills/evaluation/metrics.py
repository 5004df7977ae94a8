"""Ranking metrics for skill retrieval, over plain dicts and lists, in pure Python.

A run maps each query id to its retrieved doc ids, best first; the relevance judgments map each
query id to the set of its relevant doc ids. Gains are binary. Conventions of every metric:

* A ranking is used in the given order. A doc id that appears more than once counts once, at its
  first position: later copies are dropped *before* cutting at k, as in a ranx/trec run, which
  maps each doc id to one score. A ranking shorter than k is not padded.
* Below, R is the number of relevant doc ids of the query, hits(k) the number of them in the top
  k, and rel(i) is 1 when the doc at rank i (1-based) is relevant, else 0.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping, Sequence

METRICS = ("accuracy", "precision", "recall", "ndcg", "mrr", "map", "rp")  # order of result keys
# Cutoffs of the model card and of sentence-transformers' InformationRetrievalEvaluator.
DEFAULT_KS: dict[str, tuple[int, ...]] = {
    "accuracy": (1, 3, 5, 10),
    "precision": (1, 3, 5, 10),
    "recall": (1, 3, 5, 10),
    "ndcg": (10,),
    "mrr": (10,),
    "map": (100,),
    "rp": (1, 3, 5, 10),
}


def _cutoffs(ks: Iterable[int] | None) -> dict[str, tuple[int, ...]]:
    """Return the cutoffs of each metric: the defaults, or the sorted ``ks`` for every metric."""
    if ks is None:
        return DEFAULT_KS
    chosen = list(ks)
    if not chosen:
        msg = "ks is empty; pass at least one cutoff, e.g. ks=[10], or None for the defaults"
        raise ValueError(msg)
    bad = [k for k in chosen if isinstance(k, bool) or not isinstance(k, int) or k <= 0]
    if bad:
        msg = f"every cutoff k must be a positive integer, got {bad!r} in {chosen!r}"
        raise ValueError(msg)
    return dict.fromkeys(METRICS, tuple(sorted(set(chosen))))


def _check_relevant(relevant_ids: Collection[str], query_id: str | None = None) -> None:
    """Raise ``ValueError`` when a query has no relevant doc ids."""
    if not relevant_ids:
        where = "relevant_ids" if query_id is None else f"query {query_id!r}"
        msg = (
            f"{where} has no relevant doc ids, so recall, NDCG, MAP and R-precision are undefined;"
            " drop the query or add its relevant doc ids"
        )
        raise ValueError(msg)


def _hit_ranks(ranking: Sequence[str], relevant: Collection[str], depth: int) -> list[int]:
    """Return the 1-based ranks of relevant docs in the top ``depth``, duplicates dropped."""
    top = list(dict.fromkeys(ranking))[:depth]
    return [i for i, doc in enumerate(top, start=1) if doc in relevant]


def _value(metric: str, hit_ranks: Sequence[int], n_rel: int, k: int) -> float:
    """Compute ``metric@k`` from the ranks of the hits; the one place the formulas live."""
    found = [r for r in hit_ranks if r <= k]
    if metric == "accuracy":
        return 1.0 if found else 0.0
    if metric == "precision":
        return len(found) / k
    if metric == "recall":
        return len(found) / n_rel
    if metric == "ndcg":
        ideal = math.fsum(1.0 / math.log2(i + 1) for i in range(1, min(k, n_rel) + 1))
        return math.fsum(1.0 / math.log2(r + 1) for r in found) / ideal
    if metric == "mrr":
        return 1.0 / found[0] if found else 0.0
    if metric == "map":  # found[n] is the rank of hit n + 1, so precision there is (n + 1) / rank
        return math.fsum((n + 1) / r for n, r in enumerate(found)) / min(k, n_rel)
    return len(found) / min(k, n_rel)  # rp


def _query(
    ranking: Sequence[str],
    relevant_ids: Collection[str],
    cutoffs: Mapping[str, Sequence[int]],
    query_id: str | None = None,
) -> dict[str, float]:
    """Score one query at validated cutoffs, finding its hits once for all metrics."""
    _check_relevant(relevant_ids, query_id)
    relevant = set(relevant_ids)
    hit_ranks = _hit_ranks(ranking, relevant, max(max(c) for c in cutoffs.values()))
    n_rel = len(relevant)
    return {f"{m}@{k}": _value(m, hit_ranks, n_rel, k) for m in METRICS for k in cutoffs.get(m, ())}


def _one(metric: str, ranking: Sequence[str], relevant_ids: Collection[str], k: int) -> float:
    """Compute ``metric@k`` for one query, validating ``k`` and the relevant ids."""
    return _query(ranking, relevant_ids, {metric: _cutoffs([k])[metric]})[f"{metric}@{k}"]


def accuracy_at_k(ranking: Sequence[str], relevant_ids: Collection[str], k: int) -> float:
    """Accuracy@k = 1 if hits(k) > 0 else 0 (ranx's hit_rate@k).

    Args:
        ranking: Retrieved doc ids, best first.
        relevant_ids: The query's relevant doc ids; not empty.
        k: Cutoff, a positive integer.

    Returns:
        The metric, in [0, 1]. The other per-metric functions take the same arguments and raise
        ``ValueError`` for an empty ``relevant_ids`` or a cutoff that is not positive.
    """
    return _one("accuracy", ranking, relevant_ids, k)


def precision_at_k(ranking: Sequence[str], relevant_ids: Collection[str], k: int) -> float:
    """Precision@k = hits(k) / k, also when the ranking holds fewer than k docs."""
    return _one("precision", ranking, relevant_ids, k)


def recall_at_k(ranking: Sequence[str], relevant_ids: Collection[str], k: int) -> float:
    """Recall@k = hits(k) / R."""
    return _one("recall", ranking, relevant_ids, k)


def ndcg_at_k(ranking: Sequence[str], relevant_ids: Collection[str], k: int) -> float:
    """NDCG@k = sum_{i<=k} rel(i) / log2(i + 1), over the ideal sum_{i<=min(k, R)} 1 / log2(i + 1).

    Binary gains; the ideal ranking puts min(k, R) relevant docs first.
    """
    return _one("ndcg", ranking, relevant_ids, k)


def mrr_at_k(ranking: Sequence[str], relevant_ids: Collection[str], k: int) -> float:
    """Reciprocal rank@k = 1 / rank of the first relevant doc in the top k, else 0."""
    return _one("mrr", ranking, relevant_ids, k)


def map_at_k(ranking: Sequence[str], relevant_ids: Collection[str], k: int) -> float:
    """Average precision@k = sum_{i<=k} rel(i) * hits(i) / i, over min(k, R).

    The min(k, R) denominator is sentence-transformers' InformationRetrievalEvaluator's; ranx and
    trec_eval divide by R, so they score lower whenever R > k.
    """
    return _one("map", ranking, relevant_ids, k)


def r_precision_at_k(ranking: Sequence[str], relevant_ids: Collection[str], k: int) -> float:
    """R-precision@k = hits(k) / min(k, R), as in skill extraction (Decorte et al.).

    It equals precision@k when R >= k and recall@k when R <= k. Unlike ranx's ``r-precision``
    (hits(R) / R), it is cut at k.
    """
    return _one("rp", ranking, relevant_ids, k)


def query_metrics(
    ranking: Sequence[str], relevant_ids: Collection[str], ks: Iterable[int] | None = None
) -> dict[str, float]:
    """Score one query, for error analysis: the per-query terms that `compute_metrics` averages.

    Example: ``query_metrics(["a", "b"], {"b"}, ks=[2])["mrr@2"]`` is ``0.5``.

    Args:
        ranking: Retrieved doc ids, best first.
        relevant_ids: The query's relevant doc ids; not empty.
        ks: Cutoffs applied to every metric; None uses `DEFAULT_KS`.

    Returns:
        ``{"<metric>@<k>": value}``, keys in the order of `METRICS`, then k.

    Raises:
        ValueError: If ``relevant_ids`` is empty or a cutoff is not a positive integer.
    """
    return _query(ranking, relevant_ids, _cutoffs(ks))


def compute_metrics(
    run: Mapping[str, Sequence[str]],
    relevant: Mapping[str, Collection[str]],
    ks: Iterable[int] | None = None,
) -> dict[str, float]:
    """Average accuracy, precision, recall, NDCG, MRR, MAP and R-precision at k over queries.

    Example: ``compute_metrics({"q": ["a", "b"]}, {"q": {"b"}}, ks=[2])["mrr@2"]`` is ``0.5``.

    The formulas and conventions are those of the per-metric functions (`map_at_k` divides by
    min(k, R), as sentence-transformers does). Defaults follow the model card and
    sentence-transformers: accuracy, precision, recall and rp at 1, 3, 5 and 10; ndcg@10, mrr@10
    and map@100.

    Args:
        run: Query id -> retrieved doc ids, best first. A query of ``relevant`` missing here
            scores 0 on every metric; queries not in ``relevant`` are ignored.
        relevant: Query id -> its relevant doc ids, each collection non-empty.
        ks: Cutoffs applied to every metric (``ks=[5]`` gives every metric @5); None uses the
            defaults.

    Returns:
        ``{"<metric>@<k>": mean over the queries of relevant}``, keys in the order of `METRICS`,
        then k.

    Raises:
        ValueError: If ``relevant`` is empty, a query has no relevant doc ids, or a cutoff is not
            a positive integer.
    """
    cutoffs = _cutoffs(ks)
    return mean_metrics([_query(run.get(q, ()), ids, cutoffs, q) for q, ids in relevant.items()])


def mean_metrics(scores: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Average per-query metrics (from `query_metrics`) key by key, as `compute_metrics` does.

    Raises:
        ValueError: If `scores` is empty.
    """
    if not scores:
        msg = "relevant is empty; pass at least one query id with its relevant doc ids"
        raise ValueError(msg)
    return {key: math.fsum(s[key] for s in scores) / len(scores) for key in scores[0]}
