"""Concurrency suite: one retriever (one store, one model) used by many callers at once gives
each of them exactly what it gives them one after another: 8 threads x 100 queries, and 50
`ainvoke` calls at once, with and without a reranker."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from langchain_core.documents import Document

from langchain_course_skills import (
    SkillCrossEncoder,
    SkillReranker,
    SkillRetriever,
    build_skill_store,
    load_esco_skills,
)
from langchain_course_skills.embeddings import E5Embeddings

pytestmark = pytest.mark.concurrency

THREADS = 8
QUERIES = 100  # per thread
AT_ONCE = 50  # ainvoke calls gathered together

Result = list[tuple[str, float | None, float | None]]


def _result(documents: list[Document]) -> Result:
    """What a caller sees: ids in order with both scores, compared exactly."""
    return [
        (str(d.id), d.metadata.get("similarity"), d.metadata.get("relevance_score"))
        for d in documents
    ]


@pytest.fixture(scope="module")
def queries(esco_slice: Path) -> list[str]:
    skills = load_esco_skills(esco_slice)
    return [str(doc.metadata["description"]) for doc in skills[:QUERIES]]


@pytest.fixture(scope="module", params=["without reranker", "with reranker"])
def retriever(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    esco_slice: Path,
    tiny_embeddings: E5Embeddings,
    tiny_cross_encoder: Path,
) -> SkillRetriever:
    store = build_skill_store(
        load_esco_skills(esco_slice),
        tiny_embeddings,
        persist_directory=tmp_path_factory.mktemp("concurrency") / "db",
        show_progress=False,
    )
    if request.param == "without reranker":
        return SkillRetriever(store=store, k=10)
    cross_encoder = SkillCrossEncoder(model_name=str(tiny_cross_encoder), precision="fp32")
    return SkillRetriever(
        store=store, k=10, reranker=SkillReranker(cross_encoder=cross_encoder), top_n=5
    )


@pytest.fixture(scope="module")
def sequential(retriever: SkillRetriever, queries: list[str]) -> list[Result]:
    return [_result(retriever.invoke(query)) for query in queries]


def test_threads_get_what_sequential_calls_get(
    retriever: SkillRetriever, queries: list[str], sequential: list[Result]
) -> None:
    def one_thread(_: int) -> list[Result]:
        return [_result(retriever.invoke(query)) for query in queries]

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        runs = list(pool.map(one_thread, range(THREADS)))

    assert len(runs) == THREADS
    for run in runs:
        assert run == sequential  # bit for bit: ids, order, similarity and relevance


async def test_ainvoke_all_at_once_gets_what_sequential_calls_get(
    retriever: SkillRetriever, queries: list[str], sequential: list[Result]
) -> None:
    results = await asyncio.gather(*(retriever.ainvoke(q) for q in queries[:AT_ONCE]))
    assert [_result(r) for r in results] == sequential[:AT_ONCE]
