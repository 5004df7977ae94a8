"""Tests of the ranking metrics: hand-computed cases, errors, and agreement with ranx."""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING

import pytest

from langchain_course_skills.evaluation import (
    accuracy_at_k,
    compute_metrics,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    query_metrics,
    r_precision_at_k,
    recall_at_k,
)
from langchain_course_skills.evaluation.metrics import DEFAULT_KS, METRICS

if TYPE_CHECKING:
    from collections.abc import Callable

# Hits at ranks 1, 3 and 5; R = 4 ("d4" is never retrieved).
RANKING = ["d1", "x1", "d2", "x2", "d3"]
RELEVANT = {"d1", "d2", "d3", "d4"}

# Batch: q1 hits at rank 1 (R=1), q2 at ranks 2 and 4 (R=2), q3 misses (R=3), q4 has no run
# (R=1, all zeros). "extra" is not judged and must be ignored.
BATCH_RUN = {
    "q1": ["a", "x", "y"],
    "q2": ["x", "b", "y", "c"],
    "q3": ["x", "y", "z"],
    "extra": ["a"],
}
BATCH_RELEVANT = {"q1": {"a"}, "q2": {"b", "c"}, "q3": {"d", "e", "f"}, "q4": {"g"}}
INV_LOG2_3 = 1 / math.log2(3)  # discount of rank 2


def test_accuracy_at_k_is_one_when_any_relevant_doc_is_in_top_k() -> None:
    assert accuracy_at_k(RANKING, RELEVANT, 1) == 1.0  # "d1" at rank 1
    assert accuracy_at_k(["x", "y", "d2"], RELEVANT, 2) == 0.0  # first hit at rank 3 > 2
    assert accuracy_at_k(["x", "y", "d2"], RELEVANT, 3) == 1.0


def test_precision_at_k_divides_hits_by_k() -> None:
    assert precision_at_k(RANKING, RELEVANT, 3) == pytest.approx(2 / 3)  # d1, d2 in top 3
    assert precision_at_k(RANKING, RELEVANT, 5) == pytest.approx(3 / 5)  # d1, d2, d3 in top 5


def test_precision_at_k_divides_by_k_when_ranking_is_shorter() -> None:
    assert precision_at_k(["d1"], RELEVANT, 5) == pytest.approx(0.2)  # 1 hit / k=5


def test_recall_at_k_divides_hits_by_all_relevant() -> None:
    assert recall_at_k(RANKING, RELEVANT, 3) == pytest.approx(0.5)  # 2 hits / R=4
    assert recall_at_k(RANKING, RELEVANT, 5) == pytest.approx(0.75)  # 3 hits / R=4


def test_ndcg_at_k_uses_log2_discount_and_ideal_over_min_k_r() -> None:
    # DCG@3 = 1/log2(2) + 1/log2(4) = 1.5; ideal over min(3, 4) = 3 ranks:
    # 1 + 1/log2(3) + 1/log2(4) = 2.1309; NDCG@3 = 1.5 / 2.1309 = 0.7039
    assert ndcg_at_k(RANKING, RELEVANT, 3) == pytest.approx(1.5 / (1.5 + INV_LOG2_3))


def test_ndcg_at_k_is_one_for_a_perfect_top_k_when_r_exceeds_k() -> None:
    # ideal DCG counts only min(k, R) = 2 ranks, so two hits in two ranks are perfect
    assert ndcg_at_k(["d1", "d2"], RELEVANT, 2) == pytest.approx(1.0)


def test_mrr_at_k_is_reciprocal_rank_of_first_hit_within_k() -> None:
    assert mrr_at_k(["x", "y", "d2"], RELEVANT, 3) == pytest.approx(1 / 3)  # first hit at rank 3
    assert mrr_at_k(["x", "y", "d2"], RELEVANT, 2) == 0.0  # rank 3 is beyond k=2


def test_map_at_k_divides_by_min_k_and_r() -> None:
    # precisions at the hits: 1/1, 2/3, 3/5 -> sum 2.2667; / min(5, R=4) = 4 -> 0.5667
    # (ranx/trec would also divide by R=4 here; they differ from us only when R > k)
    assert map_at_k(RANKING, RELEVANT, 5) == pytest.approx((1 + 2 / 3 + 3 / 5) / 4)
    # precisions at the hits in the top 3: 1/1, 2/3 -> 1.6667; / min(3, 4) = 3 -> 0.5556
    assert map_at_k(RANKING, RELEVANT, 3) == pytest.approx((1 + 2 / 3) / 3)


def test_r_precision_at_k_divides_by_min_k_and_r() -> None:
    assert r_precision_at_k(RANKING, RELEVANT, 3) == pytest.approx(2 / 3)  # 2 hits / min(3, 4)
    assert r_precision_at_k(RANKING, RELEVANT, 5) == pytest.approx(3 / 4)  # 3 hits / min(5, 4)


def test_no_hit_scores_zero_on_every_metric() -> None:
    scores = query_metrics(["x", "y", "z"], {"a", "b"})
    assert scores == dict.fromkeys(scores, 0.0)
    assert len(scores) == 19  # 4 + 4 + 4 + 1 + 1 + 1 + 4 default cutoffs


def test_duplicate_doc_ids_count_once_at_first_position() -> None:
    # ["a", "a", "b"] is read as ["a", "b"]: "a" at rank 1, "b" moves up to rank 2
    scores = query_metrics(["a", "a", "b"], {"a", "b"}, ks=[2])
    assert scores["precision@2"] == pytest.approx(1.0)  # 2 distinct hits / k=2
    assert scores["recall@2"] == pytest.approx(1.0)  # 2 hits / R=2
    assert scores["map@2"] == pytest.approx(1.0)  # (1/1 + 2/2) / min(2, 2)


def test_query_metrics_defaults_follow_the_model_card() -> None:
    scores = query_metrics(["a"], {"a"})
    expected = [f"{m}@{k}" for m in METRICS for k in DEFAULT_KS[m]]
    assert list(scores) == expected
    assert {"ndcg@10", "mrr@10", "map@100", "rp@1", "accuracy@10"} <= set(scores)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("accuracy@1", 1 / 4),  # only q1 hits at rank 1
        ("accuracy@3", 2 / 4),  # q1 and q2 hit in the top 3
        ("precision@1", 1 / 4),  # (1 + 0 + 0 + 0) / 4
        ("precision@3", (1 / 3 + 1 / 3) / 4),  # q1 and q2 have 1 hit in 3 -> 1/6
        ("recall@1", 1 / 4),  # (1/1 + 0/2 + 0 + 0) / 4
        ("recall@3", (1 + 1 / 2) / 4),  # q1 1/1, q2 1/2 (c is at rank 4) -> 0.375
        ("ndcg@1", 1 / 4),  # q1 perfect, others 0
        # q2: DCG = 1/log2(3), ideal over min(3, 2) = 2 ranks = 1 + 1/log2(3) -> 0.3869
        ("ndcg@3", (1 + INV_LOG2_3 / (1 + INV_LOG2_3)) / 4),
        ("mrr@1", 1 / 4),  # only q1 has a hit at rank 1
        ("mrr@3", (1 + 1 / 2) / 4),  # q1 1/1, q2 1/2 -> 0.375
        ("map@1", 1 / 4),  # q1 (1/1) / min(1, 1)
        ("map@3", (1 + (1 / 2) / 2) / 4),  # q1 1, q2 (1/2) / min(3, 2) = 0.25 -> 0.3125
        ("rp@1", 1 / 4),  # q1 1 / min(1, 1)
        ("rp@3", (1 + 1 / 2) / 4),  # q1 1 / min(3, 1), q2 1 / min(3, 2) -> 0.375
    ],
)
def test_compute_metrics_averages_each_metric_over_judged_queries(
    key: str, expected: float
) -> None:
    scores = compute_metrics(BATCH_RUN, BATCH_RELEVANT, ks=[1, 3])
    assert scores[key] == pytest.approx(expected)


def test_compute_metrics_applies_ks_to_every_metric() -> None:
    scores = compute_metrics(BATCH_RUN, BATCH_RELEVANT, ks=[5])
    assert list(scores) == [f"{m}@5" for m in METRICS]


def test_compute_metrics_counts_a_query_missing_from_run_as_zeros() -> None:
    scores = compute_metrics({}, {"q1": {"a"}, "q2": {"b"}}, ks=[1])
    assert scores == dict.fromkeys(scores, 0.0)


def test_compute_metrics_ignores_run_queries_not_in_relevant() -> None:
    with_extra = compute_metrics(BATCH_RUN, BATCH_RELEVANT)
    without = compute_metrics({q: r for q, r in BATCH_RUN.items() if q != "extra"}, BATCH_RELEVANT)
    assert with_extra == without


def test_compute_metrics_is_the_mean_of_query_metrics() -> None:
    per_query = [query_metrics(BATCH_RUN.get(q, []), ids) for q, ids in BATCH_RELEVANT.items()]
    scores = compute_metrics(BATCH_RUN, BATCH_RELEVANT)
    for key, value in scores.items():
        assert value == pytest.approx(sum(s[key] for s in per_query) / len(per_query))


def test_compute_metrics_rejects_empty_relevant() -> None:
    with pytest.raises(ValueError, match="relevant is empty"):
        compute_metrics({"q1": ["a"]}, {})


def test_compute_metrics_names_the_query_with_no_relevant_ids() -> None:
    with pytest.raises(ValueError, match="query 'q2' has no relevant doc ids"):
        compute_metrics({"q1": ["a"]}, {"q1": {"a"}, "q2": set()})


def test_query_metrics_rejects_empty_relevant_ids() -> None:
    with pytest.raises(ValueError, match="relevant_ids has no relevant doc ids"):
        query_metrics(["a"], set())


@pytest.mark.parametrize("ks", [[0], [-1], [5, 0]])
def test_compute_metrics_rejects_cutoffs_that_are_not_positive(ks: list[int]) -> None:
    with pytest.raises(ValueError, match="must be a positive integer"):
        compute_metrics({"q1": ["a"]}, {"q1": {"a"}}, ks=ks)


def test_compute_metrics_rejects_empty_ks() -> None:
    with pytest.raises(ValueError, match="ks is empty"):
        compute_metrics({"q1": ["a"]}, {"q1": {"a"}}, ks=[])


@pytest.mark.parametrize(
    "metric",
    [
        accuracy_at_k,
        precision_at_k,
        recall_at_k,
        ndcg_at_k,
        mrr_at_k,
        map_at_k,
        r_precision_at_k,
    ],
)
def test_per_metric_functions_reject_k_zero(
    metric: Callable[[list[str], set[str], int], float],
) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        metric(["a"], {"a"}, 0)


@pytest.mark.filterwarnings("ignore::Warning:ranx")  # numba's uint64 cast notice
@pytest.mark.filterwarnings("ignore::Warning:numba")
def test_every_metric_matches_ranx_on_random_runs() -> None:
    """Compare with ranx 0.3.21 on 50 random queries, R from 1 to 8, at k in 1, 3, 5, 10.

    ranx's hit_rate, precision, recall, ndcg (Järvelin, binary gains) and mrr are our accuracy,
    precision, recall, ndcg and mrr. Two conventions differ and are converted per query:
    ranx's map@k divides by R where we divide by min(k, R), so ours = ranx * R / min(k, R);
    ranx's r-precision is not cut at k, so rp@k is taken as ranx's precision@k when R >= k and
    its recall@k when R <= k (both equal hits(k) / min(k, R)).
    """
    ranx = pytest.importorskip("ranx")
    rng = random.Random(13)
    corpus = [f"d{i}" for i in range(30)]
    relevant = {f"q{i}": set(rng.sample(corpus, rng.randint(1, 8))) for i in range(50)}
    run = {q: rng.sample(corpus, rng.randint(1, 20)) for q in relevant}
    ks = [1, 3, 5, 10]
    names = ["hit_rate", "precision", "recall", "ndcg", "mrr", "map"]
    qrels = ranx.Qrels({q: dict.fromkeys(ids, 1) for q, ids in relevant.items()})
    ranx_run = ranx.Run({q: {d: len(r) - i for i, d in enumerate(r)} for q, r in run.items()})
    ranx.evaluate(qrels, ranx_run, [f"{n}@{k}" for n in names for k in ks])
    theirs = ranx_run.scores

    for q, ids in relevant.items():
        ours = query_metrics(run[q], ids, ks)
        r = len(ids)
        for k in ks:
            assert ours[f"accuracy@{k}"] == pytest.approx(theirs[f"hit_rate@{k}"][q])
            for name in ("precision", "recall", "ndcg", "mrr"):
                assert ours[f"{name}@{k}"] == pytest.approx(theirs[f"{name}@{k}"][q])
            assert ours[f"map@{k}"] == pytest.approx(theirs[f"map@{k}"][q] * r / min(k, r))
            rp = theirs[f"precision@{k}"][q] if r >= k else theirs[f"recall@{k}"][q]
            assert ours[f"rp@{k}"] == pytest.approx(rp)
