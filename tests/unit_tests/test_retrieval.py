"""SkillRetriever, SkillCrossEncoder and SkillReranker on real stores and models."""

import warnings
from pathlib import Path

import pytest
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_tests.integration_tests import RetrieversIntegrationTests

from langchain_course_skills import (
    E5Embeddings,
    SkillCrossEncoder,
    SkillReranker,
    SkillRetriever,
    build_skill_store,
    load_esco_skills,
    load_greta,
)
from langchain_course_skills.errors import TaxonomyError
from langchain_course_skills.store import skill_collection
from tests.conftest import GRETA

COURSE = (
    "WordPress Grundlagen: In diesem Kurs lernen Sie, wie Sie mit WordPress eine eigene Website "
    "erstellen und pflegen."
)


@pytest.fixture(scope="module")
def store(
    tmp_path_factory: pytest.TempPathFactory, esco_slice: Path, tiny_embeddings: E5Embeddings
) -> Chroma:
    docs = load_esco_skills(esco_slice) + load_greta(GRETA)
    return build_skill_store(
        docs, tiny_embeddings, persist_directory=tmp_path_factory.mktemp("db"), show_progress=False
    )


@pytest.fixture(scope="module")
def cross_encoder(tiny_cross_encoder: Path) -> SkillCrossEncoder:
    return SkillCrossEncoder(model_name=str(tiny_cross_encoder), precision="fp32")


class TestSkillRetrieverStandard(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _store(self, store: Chroma) -> None:
        self._store_value = store

    @property
    def retriever_constructor(self) -> type[SkillRetriever]:
        return SkillRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"store": self._store_value}

    @property
    def retriever_query_example(self) -> str:
        return COURSE


def test_every_document_carries_its_cosine_similarity(store: Chroma) -> None:
    docs = SkillRetriever(store=store).invoke(COURSE)

    assert len(docs) == 30  # the default k, as in the model card's evaluation
    similarities = [doc.metadata["similarity"] for doc in docs]
    assert similarities == sorted(similarities, reverse=True)
    assert all(-1.0 <= s <= 1.0 for s in similarities)


def test_similarity_equals_the_cosine_of_the_embeddings(
    store: Chroma, tiny_embeddings: E5Embeddings
) -> None:
    doc = SkillRetriever(store=store, k=1).invoke(COURSE)[0]

    query = tiny_embeddings.embed_query(COURSE)
    passage = tiny_embeddings.embed_documents([doc.page_content])[0]

    assert doc.metadata["similarity"] == pytest.approx(
        sum(q * p for q, p in zip(query, passage)), abs=1e-4
    )


def test_k_can_be_overridden_per_call(store: Chroma) -> None:
    assert len(SkillRetriever(store=store, k=30).invoke(COURSE, k=4)) == 4


def test_taxonomy_filter_keeps_only_that_taxonomy(store: Chroma) -> None:
    docs = SkillRetriever(store=store, taxonomies=["GRETA"]).invoke(COURSE)

    assert len(docs) == 23
    assert {doc.metadata["taxonomy"] for doc in docs} == {"GRETA"}


def test_raw_filter_combines_with_the_taxonomy_filter(store: Chroma) -> None:
    retriever = SkillRetriever(store=store, taxonomies=["ESCO"], filter={"skill_type": "knowledge"})

    docs = retriever.invoke(COURSE)

    assert docs
    assert {(d.metadata["taxonomy"], d.metadata["skill_type"]) for d in docs} == {
        ("ESCO", "knowledge")
    }


def test_score_threshold_drops_weak_candidates(store: Chroma) -> None:
    all_docs = SkillRetriever(store=store).invoke(COURSE)
    threshold = all_docs[4].metadata["similarity"]

    docs = SkillRetriever(store=store, score_threshold=threshold).invoke(COURSE)

    kept = [d.id for d in all_docs if d.metadata["similarity"] >= threshold]  # 5, or more on ties
    assert [d.id for d in docs] == kept and len(kept) >= 5
    assert min(d.metadata["similarity"] for d in docs) >= threshold


def test_reranker_returns_top_n_with_both_scores(
    store: Chroma, cross_encoder: SkillCrossEncoder
) -> None:
    retriever = SkillRetriever(
        store=store, reranker=SkillReranker(cross_encoder=cross_encoder), top_n=5
    )

    docs = retriever.invoke(COURSE)

    assert len(docs) == 5
    relevance = [doc.metadata["relevance_score"] for doc in docs]
    assert relevance == sorted(relevance, reverse=True)
    assert all(0.0 <= r <= 1.0 for r in relevance)
    assert all("similarity" in doc.metadata for doc in docs)


def test_reranked_order_matches_the_cross_encoder_scores(
    store: Chroma, cross_encoder: SkillCrossEncoder
) -> None:
    candidates = SkillRetriever(store=store).invoke(COURSE)
    scores = cross_encoder.score([(COURSE, d.page_content) for d in candidates])
    expected = [d.id for _, d in sorted(zip(scores, candidates), key=lambda pair: -pair[0])][:10]

    docs = SkillRetriever(store=store, reranker=SkillReranker(cross_encoder=cross_encoder)).invoke(
        COURSE
    )

    assert [d.id for d in docs] == expected


@pytest.mark.parametrize("k", [0, -1])
def test_non_positive_k_is_rejected(store: Chroma, k: int) -> None:
    with pytest.raises(ValueError, match="k must be a positive integer"):
        SkillRetriever(store=store, k=k)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        SkillRetriever(store=store).invoke(COURSE, k=k)


def test_top_n_larger_than_k_is_rejected(store: Chroma, cross_encoder: SkillCrossEncoder) -> None:
    reranker = SkillReranker(cross_encoder=cross_encoder)
    with pytest.raises(ValueError, match=r"top_n \(40\) is larger than k \(30\)"):
        SkillRetriever(store=store, reranker=reranker, top_n=40)
    with pytest.raises(ValueError, match=r"top_n \(10\) is larger than k \(5\)"):
        SkillRetriever(store=store, reranker=reranker, top_n=10).invoke(COURSE, k=5)


def test_top_n_without_a_reranker_keeps_the_first_of_the_k_candidates(store: Chroma) -> None:
    candidates = SkillRetriever(store=store, k=10).invoke(COURSE)

    kept = SkillRetriever(store=store, k=10, top_n=3).invoke(COURSE)

    assert [d.id for d in kept] == [d.id for d in candidates[:3]]
    assert [d.id for d in SkillRetriever(store=store, k=10).invoke(COURSE, top_n=2)] == [
        d.id for d in candidates[:2]
    ]


@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan")])
def test_a_score_threshold_outside_zero_to_one_is_refused(
    store: Chroma, cross_encoder: SkillCrossEncoder, threshold: float
) -> None:
    with pytest.raises(ValueError, match="score_threshold must be a score between 0 and 1"):
        SkillRetriever(store=store, score_threshold=threshold)
    with pytest.raises(ValueError, match="score_threshold must be a score between 0 and 1"):
        SkillReranker(cross_encoder=cross_encoder, score_threshold=threshold)


def test_an_unknown_taxonomy_filter_is_refused_with_the_stored_names(store: Chroma) -> None:
    count = skill_collection(store).count()

    with pytest.raises(TaxonomyError, match=r"taxonomy \['esco'\] .*it has \['ESCO', 'GRETA'\]"):
        SkillRetriever(store=store, taxonomies=["ESCO", "esco"]).invoke(COURSE)

    assert skill_collection(store).count() == count
    assert SkillRetriever(store=store, taxonomies=["ESCO"]).invoke(COURSE)


def test_empty_query_is_rejected(store: Chroma) -> None:
    with pytest.raises(ValueError, match="query is empty"):
        SkillRetriever(store=store).invoke("  ")


def test_cross_encoder_scores_are_probabilities_in_input_order(
    cross_encoder: SkillCrossEncoder,
) -> None:
    pairs = [(COURSE, "WordPress"), (COURSE, "a much longer skill text " * 20), (COURSE, "SQL")]

    scores = cross_encoder.score(pairs)
    one_by_one = [cross_encoder.score([pair])[0] for pair in pairs]

    assert scores == pytest.approx(one_by_one, abs=1e-4)
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_a_pair_given_twice_is_scored_once(
    cross_encoder: SkillCrossEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    pairs = [(COURSE, "WordPress"), (COURSE, "SQL"), (COURSE, "WordPress")]
    expected = [cross_encoder.score([pair])[0] for pair in pairs]
    predict = cross_encoder.client.predict
    seen: list[int] = []

    def counting(inputs: list[tuple[str, str]], **kwargs: object) -> object:
        seen.append(len(inputs))
        return predict(inputs, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cross_encoder.client, "predict", counting)

    scores = cross_encoder.score(pairs)

    assert seen == [2]
    assert scores == pytest.approx(expected, abs=1e-4)
    assert scores[0] == scores[2]


def test_cross_encoder_score_is_the_sigmoid_of_the_logit(cross_encoder: SkillCrossEncoder) -> None:
    import torch

    logit = cross_encoder.client.predict(
        [(COURSE, "WordPress")], activation_fn=torch.nn.Identity()
    )[0]

    assert cross_encoder.score([(COURSE, "WordPress")])[0] == pytest.approx(
        float(torch.sigmoid(torch.tensor(logit))), abs=1e-5
    )


def test_reranker_never_mutates_its_input(cross_encoder: SkillCrossEncoder) -> None:
    docs = [
        Document(id=str(i), page_content=t, metadata={"similarity": 0.5})
        for i, t in enumerate(["a", "b", "c"])
    ]

    reranked = SkillReranker(cross_encoder=cross_encoder, top_n=2).compress_documents(docs, COURSE)

    assert len(reranked) == 2
    assert all(doc.metadata == {"similarity": 0.5} for doc in docs)
    assert all(doc.metadata["similarity"] == 0.5 for doc in reranked)


def test_reranker_score_threshold_drops_low_scores(cross_encoder: SkillCrossEncoder) -> None:
    docs = [Document(page_content=t) for t in ["a", "b", "c"]]

    assert (
        SkillReranker(cross_encoder=cross_encoder, score_threshold=1.0).compress_documents(
            docs, COURSE
        )
        == []
    )


def test_reranker_works_inside_contextual_compression_retriever(
    store: Chroma, cross_encoder: SkillCrossEncoder
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_classic.retrievers import ContextualCompressionRetriever

    retriever = ContextualCompressionRetriever(
        base_compressor=SkillReranker(cross_encoder=cross_encoder, top_n=3),
        base_retriever=SkillRetriever(store=store),
    )

    docs = retriever.invoke(COURSE)

    assert len(docs) == 3
    assert all({"similarity", "relevance_score"} <= doc.metadata.keys() for doc in docs)


def test_cross_encoder_works_inside_langchain_classics_reranker(
    store: Chroma, cross_encoder: SkillCrossEncoder
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_classic.retrievers.document_compressors import CrossEncoderReranker

    docs = SkillRetriever(store=store).invoke(COURSE)
    reranked = CrossEncoderReranker(model=cross_encoder, top_n=3).compress_documents(docs, COURSE)

    assert len(reranked) == 3


def test_langchain_field_names_are_accepted(
    tmp_path: Path, tiny_embeddings: E5Embeddings, tiny_cross_encoder: Path
) -> None:
    store = build_skill_store(
        [Document(id="urn:s:1", page_content="WordPress", metadata={"label": "WordPress"})],
        tiny_embeddings,
        persist_directory=tmp_path,
        show_progress=False,
    )
    encoder = SkillCrossEncoder(model_name=str(tiny_cross_encoder))

    retriever = SkillRetriever(vectorstore=store, reranker=SkillReranker(model=encoder, top_n=1))

    assert retriever.store is store
    assert retriever.invoke("WordPress Kurs")[0].id == "urn:s:1"
