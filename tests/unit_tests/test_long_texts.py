"""Course texts longer than the models read: passages, fusion, evidence, reranker windows."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from langchain_chroma import Chroma

from langchain_course_skills import (
    E5Embeddings,
    SkillCrossEncoder,
    SkillReranker,
    SkillRetriever,
    build_skill_store,
    load_esco_skills,
)
from langchain_course_skills.passages import split_passages
from langchain_course_skills.store import search_vectors
from langchain_course_skills.views import SINGLE_VIEW
from tests.rankings import assert_same_ranking
from tests.support.long_texts import HEAT_PUMP, SHORT, _long_text


@pytest.fixture(scope="module")
def tiny_store(
    tmp_path_factory: pytest.TempPathFactory, esco_slice: Path, tiny_embeddings: E5Embeddings
) -> Chroma:
    return build_skill_store(
        load_esco_skills(esco_slice),
        tiny_embeddings,
        persist_directory=tmp_path_factory.mktemp("tiny-long-db"),
        show_progress=False,
        views=SINGLE_VIEW,  # compared with the single-vector search of a one-passage store
    )


@pytest.fixture(scope="module")
def cross_encoder(tiny_cross_encoder: Path) -> SkillCrossEncoder:
    return SkillCrossEncoder(model_name=str(tiny_cross_encoder), precision="fp32")


# --- splitting -----------------------------------------------------------------------------


# --- short texts: exactly the path of before -------------------------------------------------


def test_store_search_of_many_vectors_equals_langchain_chromas_search(
    tiny_store: Chroma, tiny_embeddings: E5Embeddings
) -> None:
    # Guards the one place that reads langchain-chroma's private collection.
    vectors = tiny_embeddings.embed_queries([SHORT, "bake bread", "manage musical staff"])

    batched = search_vectors(tiny_store, vectors, 7, None)

    for vector, found in zip(vectors, batched):
        expected = tiny_store.similarity_search_by_vector_with_relevance_scores(vector, k=7)
        assert [(d.id, d.page_content, d.metadata) for d, _ in found] == [
            (d.id, d.page_content, d.metadata) for d, _ in expected
        ]
        assert [s for _, s in found] == pytest.approx([s for _, s in expected], abs=1e-6)


def test_a_short_text_gives_what_the_single_vector_path_gave(
    tiny_store: Chroma, tiny_embeddings: E5Embeddings, cross_encoder: SkillCrossEncoder
) -> None:
    # The path before long texts: embed the whole text, 30 nearest, score (text, skill) pairs.
    vector = tiny_embeddings.embed_query(SHORT)
    before = tiny_store.similarity_search_by_vector_with_relevance_scores(vector, k=30)
    logits = cross_encoder.client.predict(
        [(SHORT, d.page_content) for d, _ in before], activation_fn=torch.nn.Identity()
    )
    relevance = torch.sigmoid(torch.tensor(logits)).tolist()
    expected = sorted(zip([d.id for d, _ in before], relevance), key=lambda p: -p[1])[:10]
    retriever = SkillRetriever(
        store=tiny_store, reranker=SkillReranker(cross_encoder=cross_encoder)
    )

    plain = SkillRetriever(store=tiny_store).invoke(SHORT)
    reranked = retriever.invoke(SHORT)

    assert [d.id for d in plain] == [d.id for d, _ in before]
    assert [d.metadata["similarity"] for d in plain] == pytest.approx(
        [1 - distance for _, distance in before], abs=1e-6
    )
    assert [d.id for d in reranked] == [doc_id for doc_id, _ in expected]
    assert [d.metadata["relevance_score"] for d in reranked] == pytest.approx(
        [score for _, score in expected], abs=1e-5
    )
    assert all(d.metadata["evidence"] == {"start": 0, "end": len(SHORT)} for d in reranked)


# --- long texts ------------------------------------------------------------------------------


def test_search_many_gives_what_invoke_gives_for_short_and_long_texts(
    tiny_store: Chroma, tiny_embeddings: E5Embeddings, cross_encoder: SkillCrossEncoder
) -> None:
    texts = [
        SHORT,
        _long_text(tiny_embeddings, 1300),
        "bake bread",
        _long_text(tiny_embeddings, 700),
    ]
    retriever = SkillRetriever(
        store=tiny_store, k=20, reranker=SkillReranker(cross_encoder=cross_encoder), top_n=8
    )

    batched = retriever.search_many(texts)
    single = [retriever.invoke(text) for text in texts]

    for many, one in zip(batched, single):
        assert_same_ranking(
            [(str(d.id), d.metadata["relevance_score"]) for d in many],
            [(str(d.id), d.metadata["relevance_score"]) for d in one],
        )
        evidence = {d.id: d.metadata["evidence"] for d in one}
        assert all(d.metadata["evidence"] == evidence[d.id] for d in many if d.id in evidence)


def test_search_many_of_nothing_is_nothing(tiny_store: Chroma) -> None:
    assert SkillRetriever(store=tiny_store).search_many([]) == []


def test_search_many_names_the_empty_text(tiny_store: Chroma) -> None:
    with pytest.raises(ValueError, match=r"texts\[1\] is empty"):
        SkillRetriever(store=tiny_store).search_many([SHORT, " "])


# --- the reranker's own limit ----------------------------------------------------------------


def test_a_pair_over_the_cross_encoders_limit_is_scored_by_windows_not_cut(
    cross_encoder: SkillCrossEncoder, tiny_embeddings: E5Embeddings
) -> None:
    tokenizer = cross_encoder.client.tokenizer
    skill = "install heat pump"
    text = _long_text(tiny_embeddings, 1500)
    budget = (
        cross_encoder.max_tokens - 3 - len(tokenizer(skill, add_special_tokens=False)["input_ids"])
    )
    windows = [p.of(text) for p in split_passages(text, tokenizer, budget)]

    score = cross_encoder.score([(text, skill)])[0]

    assert all(
        len(tokenizer(window, skill)["input_ids"]) <= cross_encoder.max_tokens for window in windows
    )
    assert score == pytest.approx(
        max(cross_encoder.score([(window, skill)])[0] for window in windows), abs=1e-5
    )


def test_the_end_of_a_long_text_changes_the_reranker_score(
    cross_encoder: SkillCrossEncoder, tiny_embeddings: E5Embeddings
) -> None:
    heat = _long_text(tiny_embeddings, 1500, ending=HEAT_PUMP)
    haskell = _long_text(tiny_embeddings, 1500, ending=SHORT * 3)
    truncated = cross_encoder.client.predict([(heat, "Haskell"), (haskell, "Haskell")])

    scores = cross_encoder.score([(heat, "Haskell"), (haskell, "Haskell")])

    assert truncated[0] == pytest.approx(truncated[1], abs=1e-6)  # cut: the ends unseen
    assert scores[0] != pytest.approx(scores[1], abs=1e-6)


def test_a_skill_text_that_fills_the_cross_encoder_is_cut_with_a_warning(
    cross_encoder: SkillCrossEncoder, caplog: pytest.LogCaptureFixture
) -> None:
    skill = "skill " * 600

    with caplog.at_level(logging.WARNING, logger="langchain_course_skills.cross_encoders"):
        cross_encoder.score([(SHORT, skill)])

    assert "leaves no room for the course text" in caplog.text
