"""Tests of the evaluation pipeline: gold files, `evaluate` on real stores, the chart, the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_chroma import Chroma
from langchain_core.documents import Document

from langchain_course_skills import (
    E5Embeddings,
    SkillCrossEncoder,
    SkillReranker,
    SkillRetriever,
    load_esco_skills,
)
from langchain_course_skills.evaluation import (
    REPORT_METRICS,
    ExactSearch,
    GoldSetError,
    evaluate,
    load_gold_set,
    parse_gold,
    reranking_retriever,
    skill_labels,
    sync_evaluation_store,
)
from langchain_course_skills.evaluation.metrics import METRICS
from langchain_course_skills.views import SINGLE_VIEW
from tests.support.evaluation import HASKELL, OBVIOUS, jsonl, write_gold

STORED = 200  # skills in the MiniLM store, OBVIOUS's among them


@pytest.fixture(scope="module")
def minilm_store(
    tmp_path_factory: pytest.TempPathFactory, esco_slice: Path, minilm_embeddings: E5Embeddings
) -> Chroma:
    """The first 200 ESCO skills (one label passage each, as ExactSearch has them) embedded
    with MiniLM, in their eval collection."""
    documents = load_esco_skills(esco_slice)[:STORED]
    db = tmp_path_factory.mktemp("minilm-eval-db")
    return sync_evaluation_store(
        documents, minilm_embeddings, persist_directory=db, show_progress=False, views=SINGLE_VIEW
    ).store


@pytest.fixture(scope="module")
def cross_encoder(tiny_cross_encoder: Path) -> SkillCrossEncoder:
    return SkillCrossEncoder(model_name=str(tiny_cross_encoder), precision="fp32")


def test_evaluate_ranks_obvious_skills_first_with_minilm(minilm_store: Chroma) -> None:
    result = evaluate(
        parse_gold(jsonl(*OBVIOUS)),
        {"minilm": SkillRetriever(store=minilm_store, k=30)},
        show_progress=False,
    )
    metrics = result.metrics["minilm"]
    assert metrics["accuracy@1"] == 1.0  # 5 of 5 queries find their skill at rank 1
    assert metrics["mrr@10"] == 1.0
    assert {q.first_hit for q in result.configurations["minilm"].queries} == {1}


def test_evaluate_returns_per_query_results_for_error_analysis(minilm_store: Chroma) -> None:
    gold = parse_gold(jsonl(*OBVIOUS))
    result = evaluate(gold, {"minilm": SkillRetriever(store=minilm_store, k=7)}, ks=[1, 5])
    configuration = result.configurations["minilm"]
    first = configuration.queries[0]
    assert first.query == OBVIOUS[0]["query"]
    assert first.relevant == (HASKELL,)
    assert len(first.retrieved) == 7
    assert first.retrieved[0].id == HASKELL and first.retrieved[0].label == "Haskell"
    similarities = [skill.similarity for skill in first.retrieved]
    assert similarities == sorted(similarities, reverse=True)
    # R = 1 and the hit is at rank 1: every metric is 1 except precision@5 = 1 hit / 5 = 0.2.
    expected = dict.fromkeys((f"{m}@{k}" for m in METRICS for k in (1, 5)), 1.0)
    assert first.metrics == expected | {"precision@5": pytest.approx(0.2)}
    # The configuration's metrics are the means of the per-query ones.
    for key, value in configuration.metrics.items():
        per_query = [q.metrics[key] for q in configuration.queries]
        assert value == pytest.approx(sum(per_query) / len(per_query))
    assert configuration.details["k"] == 7
    assert configuration.details["passage_template"] == "{preferredLabel}"
    assert configuration.details["precision"].endswith(" fp32")  # e.g. "onnx fp32"


def test_evaluate_ranks_exactly_as_the_retriever_invokes(
    minilm_store: Chroma, cross_encoder: SkillCrossEncoder
) -> None:
    reranker = SkillReranker(cross_encoder=cross_encoder, top_n=3)
    retrievers = {
        "filtered": SkillRetriever(store=minilm_store, k=12, score_threshold=0.2),
        "reranked": SkillRetriever(store=minilm_store, k=8, reranker=reranker, top_n=5),
    }
    gold = parse_gold(jsonl(*OBVIOUS[:3]))
    result = evaluate(gold, retrievers, show_progress=False)
    for name, retriever in retrievers.items():
        for query in result.configurations[name].queries:
            expected = [
                (d.id, d.metadata.get("relevance_score")) for d in retriever.invoke(query.query)
            ]
            got = [(s.id, s.relevance_score) for s in query.retrieved]
            assert [i for i, _ in got] == [i for i, _ in expected]
            assert [s for _, s in got] == pytest.approx([s for _, s in expected])


def test_reranker_configuration_reorders_all_k_candidates(
    minilm_store: Chroma, cross_encoder: SkillCrossEncoder
) -> None:
    retrievers = {
        "minilm": SkillRetriever(store=minilm_store, k=30),
        "minilm + reranker": reranking_retriever(minilm_store, cross_encoder, k=30),
    }
    result = evaluate(parse_gold(jsonl(*OBVIOUS)), retrievers, show_progress=False)
    plain, reranked = (result.configurations[name] for name in retrievers)
    for before, after in zip(plain.queries, reranked.queries, strict=True):
        assert len(after.retrieved) == 30
        assert {s.id for s in after.retrieved} == {s.id for s in before.retrieved}
        scores = [s.relevance_score for s in after.retrieved]
        assert None not in scores and scores == sorted(scores, reverse=True)
    assert reranked.details["reranker"] == cross_encoder.model_name
    assert reranked.details["top_n"] == 30


def test_evaluate_stops_on_gold_labels_that_are_not_in_the_store(minilm_store: Chroma) -> None:
    gold = parse_gold(jsonl(*OBVIOUS, {"query": "Python", "relevant": ["Python (programming)"]}))
    with pytest.raises(GoldSetError, match=r"line 6 \(id 6\): 'Python \(programming\)'"):
        evaluate(gold, {"minilm": SkillRetriever(store=minilm_store)}, show_progress=False)


def test_skill_labels_reads_every_skill_of_the_store(minilm_store: Chroma) -> None:
    labels = skill_labels(minilm_store)
    assert len(labels) == STORED
    assert labels[HASKELL] == "Haskell"


def test_exact_search_scores_as_the_store_does_with_and_without_reranker(
    tmp_path: Path,
    esco_slice: Path,
    minilm_embeddings: E5Embeddings,
    minilm_store: Chroma,
    cross_encoder: SkillCrossEncoder,
) -> None:
    documents = load_esco_skills(esco_slice)[:STORED]  # the skills of minilm_store
    gold_file = write_gold(tmp_path / "gold.jsonl", OBVIOUS)
    reranker = SkillReranker(cross_encoder=cross_encoder, top_n=30)
    search = ExactSearch(minilm_embeddings, documents)

    exact = search.evaluate({"gold": load_gold_set(gold_file, documents)}, k=30)["gold"]
    reranked = search.evaluate(
        {"gold": load_gold_set(gold_file, documents)}, k=30, reranker=reranker
    )["gold"]
    stored = evaluate(
        gold_file,
        {
            "store": SkillRetriever(store=minilm_store, k=30),
            "store + reranker": reranking_retriever(minilm_store, cross_encoder, k=30),
        },
        show_progress=False,
    ).metrics

    # Exact cosine search and Chroma's index find the same 30 skills for 200 skills, in the
    # same order, and the reranker re-orders them the same way.
    assert exact == pytest.approx(stored["store"])
    assert reranked == pytest.approx(stored["store + reranker"])
    assert exact["accuracy@1"] == 1.0  # 5 of 5 queries find their skill at rank 1


def test_exact_search_top_k_returns_the_nearest_skills_best_first(
    minilm_embeddings: E5Embeddings,
) -> None:
    documents = [
        Document(id=str(i), page_content=text)
        for i, text in enumerate(["taste wines", "Haskell", "install heat pump"])
    ]
    search = ExactSearch(minilm_embeddings, documents)

    ranked = search.top_k(["Wine tasting for beginners", "heat pumps in family homes"], 2)

    assert [row[0] for row in ranked] == [0, 2]
    assert all(len(row) == 2 for row in ranked)
    assert search.top_k([], 2) == []


def test_table_shows_each_configuration_in_percent(minilm_store: Chroma) -> None:
    result = evaluate(
        parse_gold(jsonl(*OBVIOUS)),
        {"minilm": SkillRetriever(store=minilm_store)},
        show_progress=False,
    )
    header, row = result.table().splitlines()
    assert header.split() == ["configuration", *REPORT_METRICS]
    assert row.split() == ["minilm", *["100.0"] * len(REPORT_METRICS)]
    assert result.table(markdown=True).startswith("| configuration | rp@5 |")
