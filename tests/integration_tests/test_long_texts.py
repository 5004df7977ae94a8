"""Course texts longer than the models read: passages, fusion, evidence, reranker windows."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from langchain_chroma import Chroma

from langchain_course_skills import (
    E5Embeddings,
    SkillRetriever,
    build_skill_store,
    load_esco_skills,
)
from langchain_course_skills.passages import split_passages
from langchain_course_skills.views import SINGLE_VIEW
from tests.support.long_texts import HEAT_PUMP, SHORT, _long_text


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
