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

FILLER = (
    "The course meets on weekday evenings in the community hall next to the station. "
    "Participants bring their own notebooks and pens. "
    "Coffee and tea are served during the break. "
)
HEAT_PUMP = "In the final module you install a heat pump in a family home yourself."
SHORT = "Learn to program in Haskell and write functional programs."


@pytest.fixture(scope="module")
def minilm_store(
    tmp_path_factory: pytest.TempPathFactory, esco_slice: Path, minilm_embeddings: E5Embeddings
) -> Chroma:
    return build_skill_store(
        load_esco_skills(esco_slice),
        minilm_embeddings,
        persist_directory=tmp_path_factory.mktemp("long-db"),
        show_progress=False,
        views=SINGLE_VIEW,  # one passage per skill: similarities are of the skill's text
    )


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


def _long_text(embeddings: E5Embeddings, tokens: int, ending: str = HEAT_PUMP) -> str:
    text = FILLER
    while embeddings.count_tokens(text) < tokens:
        text += FILLER
    return text + ending


# --- splitting -----------------------------------------------------------------------------


def test_every_passage_fits_the_budget_and_the_passages_cover_the_text(
    minilm_embeddings: E5Embeddings,
) -> None:
    text = _long_text(minilm_embeddings, 1500)
    tokenizer = minilm_embeddings.client.tokenizer

    passages = split_passages(text, tokenizer, 100, overlap=20)

    counts = [len(tokenizer(p.of(text), add_special_tokens=False)["input_ids"]) for p in passages]
    assert len(passages) > 10
    assert max(counts) <= 100
    assert passages[0].start == 0
    assert passages[-1].end == len(text)
    # Consecutive passages overlap or touch: no sentence falls between two passages.
    assert all(b.start <= a.end + 1 for a, b in zip(passages, passages[1:]))


def test_passages_start_and_end_on_sentence_boundaries(minilm_embeddings: E5Embeddings) -> None:
    text = _long_text(minilm_embeddings, 800)
    sentences = {s.strip() for s in text.replace(". ", ".\n").splitlines() if s.strip()}

    passages = split_passages(text, minilm_embeddings.client.tokenizer, 60, overlap=0)

    for passage in passages:
        words = passage.of(text)
        assert words == words.strip()
        assert words.endswith(".")
        assert any(words.startswith(sentence) for sentence in sentences)


def test_consecutive_passages_repeat_the_last_short_sentence(
    minilm_embeddings: E5Embeddings,
) -> None:
    text = _long_text(minilm_embeddings, 600)

    passages = split_passages(text, minilm_embeddings.client.tokenizer, 60, overlap=15)

    # "Participants bring their own notebooks and pens." (10 tokens) or the coffee sentence
    # (9 tokens) fits the 15-token overlap, so every passage after the first begins inside
    # the one before it.
    assert all(b.start < a.end for a, b in zip(passages, passages[1:]))


def test_a_sentence_longer_than_a_passage_is_cut_by_tokens(
    minilm_embeddings: E5Embeddings,
) -> None:
    text = " ".join(f"word{i}" for i in range(400))  # one "sentence" of about 1,200 tokens
    tokenizer = minilm_embeddings.client.tokenizer

    passages = split_passages(text, tokenizer, 50, overlap=0)

    counts = [len(tokenizer(p.of(text), add_special_tokens=False)["input_ids"]) for p in passages]
    assert len(passages) > 10
    assert max(counts) <= 50
    assert " ".join(p.of(text) for p in passages).split() == text.split()


def test_a_text_within_the_budget_is_one_passage(minilm_embeddings: E5Embeddings) -> None:
    passages = split_passages(SHORT, minilm_embeddings.client.tokenizer, 100)

    assert [(p.start, p.end) for p in passages] == [(0, len(SHORT))]


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


def test_a_skill_taught_after_the_models_limit_is_found_with_its_evidence(
    minilm_store: Chroma, minilm_embeddings: E5Embeddings
) -> None:
    text = _long_text(minilm_embeddings, 2 * minilm_embeddings.max_tokens)
    start = text.index(HEAT_PUMP)

    docs = SkillRetriever(store=minilm_store, k=5).invoke(text)

    labels = [d.metadata["label"] for d in docs]
    assert "install heat pump" in labels
    evidence = docs[labels.index("install heat pump")].metadata["evidence"]
    assert evidence["start"] <= start and evidence["end"] == len(text)
    assert HEAT_PUMP in text[evidence["start"] : evidence["end"]]
    assert minilm_embeddings.count_tokens(text[evidence["start"] : evidence["end"]]) <= (
        minilm_embeddings.max_tokens
    )


def test_truncation_would_have_missed_that_skill(
    minilm_store: Chroma, minilm_embeddings: E5Embeddings
) -> None:
    text = _long_text(minilm_embeddings, 2 * minilm_embeddings.max_tokens)
    vector = minilm_embeddings.embed_query(text)  # the model reads the first 256 tokens

    truncated = SkillRetriever(store=minilm_store, k=5).search_by_vector(text, vector)

    assert "install heat pump" not in [d.metadata["label"] for d in truncated]


@pytest.mark.parametrize("fusion", ["relative", "max", "rrf", "round_robin"])
def test_every_fusion_keeps_k_distinct_skills(
    minilm_store: Chroma, minilm_embeddings: E5Embeddings, fusion: str
) -> None:
    text = _long_text(minilm_embeddings, 1200)

    docs = SkillRetriever(store=minilm_store, k=12, fusion=fusion).invoke(text)

    assert len(docs) == 12
    assert len({d.id for d in docs}) == 12
    for doc in docs:
        evidence = doc.metadata["evidence"]
        assert 0 <= evidence["start"] < evidence["end"] <= len(text)


def test_max_fusion_ranks_by_the_best_similarity_over_the_passages(
    minilm_store: Chroma, minilm_embeddings: E5Embeddings
) -> None:
    text = _long_text(minilm_embeddings, 1200)
    retriever = SkillRetriever(store=minilm_store, k=10, fusion="max")

    docs = retriever.invoke(text)

    similarities = [d.metadata["similarity"] for d in docs]
    assert similarities == sorted(similarities, reverse=True)
    for doc in docs:  # the similarity is the cosine of the skill and its evidence passage
        evidence = doc.metadata["evidence"]
        passage = text[evidence["start"] : evidence["end"]]
        cosine = torch.tensor(minilm_embeddings.embed_query(passage)) @ torch.tensor(
            minilm_embeddings.embed_documents([doc.page_content])[0]
        )
        assert doc.metadata["similarity"] == pytest.approx(float(cosine), abs=1e-4)


def test_passages_are_about_a_sentence_unless_set_otherwise(
    minilm_store: Chroma, minilm_embeddings: E5Embeddings
) -> None:
    text = _long_text(minilm_embeddings, 1200)

    default = SkillRetriever(store=minilm_store).passages([text])[0]
    whole = SkillRetriever(store=minilm_store, passage_tokens=None).passages([text])[0]

    assert max(minilm_embeddings.token_counts([p.of(text) for p in default])) <= 32
    assert max(minilm_embeddings.token_counts([p.of(text) for p in whole])) <= 256
    assert len(default) > 3 * len(whole)


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


def test_the_default_finds_a_skill_named_once_where_max_over_long_passages_does_not(
    minilm_store: Chroma, minilm_embeddings: E5Embeddings
) -> None:
    # The filler resembles many skills a little; the heat-pump sentence names one. Relative
    # fusion over sentence-sized passages ranks that one first (the measured default).
    text = _long_text(minilm_embeddings, 2 * minilm_embeddings.max_tokens)

    default = SkillRetriever(store=minilm_store, k=3).invoke(text)
    max_whole = SkillRetriever(store=minilm_store, k=3, fusion="max", passage_tokens=None).invoke(
        text
    )

    assert default[0].metadata["label"] == "install heat pump"
    assert "install heat pump" not in [d.metadata["label"] for d in max_whole]
