"""Several views of each skill in one store (views.py): building, syncing and fused retrieval."""

from pathlib import Path

import pytest
from langchain_chroma import Chroma
from langchain_tests.integration_tests import RetrieversIntegrationTests

from langchain_course_skills import (
    E5Embeddings,
    SkillRetriever,
    StoreMismatchError,
    load_esco_skills,
    load_greta,
    open_skill_store,
)
from langchain_course_skills.fusion import fuse_scores
from langchain_course_skills.store import (
    SyncReport,
    iter_stored,
    read_fingerprint,
    skill_collection,
    store_layout,
    view_counts,
)
from langchain_course_skills.views import DEFAULT_VIEWS, SINGLE_VIEW, check_views, view_passages
from langchain_course_skills.vocabulary import MATCHED_VIEW_KEY, SIMILARITY_KEY
from tests.conftest import (
    GRETA,
)
from tests.support.views import ALL_VIEWS, SKILLS, _Counting, _german, _skill, _sync


@pytest.fixture(scope="module")
def views_store(
    tmp_path_factory: pytest.TempPathFactory, esco_slice: Path, tiny_embeddings: E5Embeddings
) -> Chroma:
    """300 ESCO skills, each as its label, its alternative labels and its description."""
    path = tmp_path_factory.mktemp("views-db")
    return _sync(load_esco_skills(esco_slice), tiny_embeddings, path, views=ALL_VIEWS).store


class TestViewsRetrieverStandard(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _store(self, views_store: Chroma) -> None:
        self._store_value = views_store

    @property
    def retriever_constructor(self) -> type[SkillRetriever]:
        return SkillRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"store": self._store_value}

    @property
    def retriever_query_example(self) -> str:
        return "manage a team of software developers"


def test_k_counts_skills_not_passages(views_store: Chroma) -> None:
    found = SkillRetriever(store=views_store, k=25).invoke("repair machines")

    assert len(found) == 25
    assert len({doc.id for doc in found}) == 25
    assert all("#" not in str(doc.id) for doc in found)


def test_fused_results_are_ordered_by_their_similarity(views_store: Chroma) -> None:
    found = SkillRetriever(store=views_store, k=10, view_fusion="max").invoke("cook food")

    scores = [doc.metadata[SIMILARITY_KEY] for doc in found]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("fusion", ["max", "mean", "rrf"])
def test_every_view_fusion_returns_k_distinct_skills(views_store: Chroma, fusion: str) -> None:
    found = SkillRetriever(store=views_store, k=7, view_fusion=fusion).invoke("teach children")

    assert len({doc.id for doc in found}) == len(found) == 7


def test_fewer_skills_than_k_are_returned_when_the_store_has_no_more(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    store = _sync(SKILLS, tiny_embeddings, tmp_path, views=ALL_VIEWS).store

    found = SkillRetriever(store=store, k=10).invoke("anything")

    assert sorted(str(doc.id) for doc in found) == sorted(str(s.id) for s in SKILLS)


def test_a_rerun_with_no_change_embeds_nothing(
    tmp_path: Path, esco_slice: Path, tiny_embeddings: E5Embeddings
) -> None:
    docs = load_esco_skills(esco_slice)[:30]
    first = _sync(docs, tiny_embeddings, tmp_path, views=ALL_VIEWS)

    again = _sync(docs, tiny_embeddings, tmp_path, views=ALL_VIEWS)

    assert first.added == first.total > len(docs)  # several passages per skill
    assert (again.added, again.updated, again.unchanged) == (0, 0, first.total)
    assert again.skills == len(docs)


def test_each_distinct_passage_text_is_embedded_once(tmp_path: Path, tiny_bi_encoder: Path) -> None:
    shared = [  # "Excel" is an alternative label of two skills, and another skill's label
        _skill("urn:s:a", "use spreadsheets software", ["Excel", "spreadsheets"]),
        _skill("urn:s:b", "use office software", ["Excel", "word processing"]),
        _skill("urn:s:c", "Excel", []),
    ]
    counting = _Counting(model_name=str(tiny_bi_encoder))

    report = _sync(shared, counting, tmp_path, views=ALL_VIEWS)

    assert report.total == 7  # three labels and four alternative labels
    assert sorted(counting._seen) == sorted(set(counting._seen))
    assert counting._seen.count("Excel") == 1
    stored = {doc_id: vector for doc_id, vector in _vectors(report)}
    assert stored["urn:s:a#alt:1"] == stored["urn:s:b#alt:1"] == stored["urn:s:c"]


def _vectors(report: SyncReport) -> list[tuple[str, list[float]]]:
    got = skill_collection(report.store).get(include=["embeddings"])
    return [(i, list(v)) for i, v in zip(got["ids"], got["embeddings"], strict=True)]


def test_adding_a_language_embeds_only_its_passages(
    tmp_path: Path, esco_slice: Path, tiny_embeddings: E5Embeddings
) -> None:
    docs = load_esco_skills(esco_slice)[:30]
    first = _sync(docs, tiny_embeddings, tmp_path, views=("label", "alt"))

    added = _sync(
        docs, tiny_embeddings, tmp_path, views=("label", "alt"), translations={"de": _german()}
    )

    # The German file has labels only: one "de:label" passage per skill it has, nothing else
    # changes.
    in_german = len({str(d.id) for d in docs} & {str(d.id) for d in _german()})
    assert (added.added, added.updated, added.unchanged) == (in_german, 0, first.total)
    assert read_fingerprint(skill_collection(added.store))["languages"] == "de"


def test_adding_a_language_to_a_one_view_store_keeps_its_passages(
    tmp_path: Path, esco_slice: Path, tiny_embeddings: E5Embeddings
) -> None:
    docs = load_esco_skills(esco_slice)[:30]
    _sync(docs, tiny_embeddings, tmp_path, views=SINGLE_VIEW)

    added = _sync(docs, tiny_embeddings, tmp_path, translations={"de": _german()})

    in_german = len({str(d.id) for d in docs} & {str(d.id) for d in _german()})
    assert (added.added, added.updated, added.unchanged) == (in_german, 0, 30)


def test_pruning_removes_every_view_of_a_removed_skill(
    tmp_path: Path, esco_slice: Path, tiny_embeddings: E5Embeddings
) -> None:
    docs = load_esco_skills(esco_slice)[:10]
    _sync(docs, tiny_embeddings, tmp_path, views=ALL_VIEWS)
    gone = str(docs[0].id)
    views_of_gone = len(view_passages(docs[:1], ALL_VIEWS))

    report = _sync(docs[1:], tiny_embeddings, tmp_path, views=ALL_VIEWS, prune=True)

    stored = [(doc_id, meta) for doc_id, meta, _ in iter_stored(skill_collection(report.store))]
    assert report.removed == views_of_gone
    assert not [doc_id for doc_id, meta in stored if gone in (doc_id, meta.get("skill_id"))]


def test_pruning_removes_an_alt_label_that_left_its_skill(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    _sync(SKILLS, tiny_embeddings, tmp_path, views=("label", "alt"))
    fewer = [
        SKILLS[0].model_copy(update={"metadata": {**SKILLS[0].metadata, "alt_labels": "Excel"}})
    ]

    report = _sync(
        fewer + SKILLS[1:], tiny_embeddings, tmp_path, views=("label", "alt"), prune=True
    )

    ids = {doc_id for doc_id, _, _ in iter_stored(skill_collection(report.store))}
    assert "urn:s:sheets#alt:1" in ids
    assert "urn:s:sheets#alt:2" not in ids  # "work with spreadsheets" left the skill
    assert report.removed == 1


def test_syncing_or_opening_with_other_views_is_refused(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    _sync(SKILLS, tiny_embeddings, tmp_path, views=("label", "alt"))

    with pytest.raises(StoreMismatchError, match=r"holds the views label,alt .* asked for label;"):
        _sync(SKILLS, tiny_embeddings, tmp_path, views=SINGLE_VIEW)
    with pytest.raises(StoreMismatchError, match=r"asked for label,alt,description;"):
        _sync(SKILLS, tiny_embeddings, tmp_path, views=DEFAULT_VIEWS)
    with pytest.raises(StoreMismatchError, match=r"pass views='label,alt'"):
        open_skill_store(tiny_embeddings, persist_directory=tmp_path, views=ALL_VIEWS)
    assert open_skill_store(tiny_embeddings, persist_directory=tmp_path) is not None


def test_a_one_view_store_holds_the_documents_as_they_are(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    report = _sync(SKILLS, tiny_embeddings, tmp_path, views=SINGLE_VIEW)

    stored = {doc_id: meta for doc_id, meta, _ in iter_stored(skill_collection(report.store))}
    assert set(stored) == {str(s.id) for s in SKILLS}
    assert all("skill_id" not in meta for meta in stored.values())
    assert store_layout(report.store).single


def test_a_new_store_holds_every_view_by_default(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    bare = _skill("urn:s:bare", "bare skill", [], "  ")  # no alternative label, no description

    report = _sync([*SKILLS, bare], tiny_embeddings, tmp_path)

    counts = view_counts(skill_collection(report.store))
    # 4 labels, 2 + 2 + 1 alternative labels, 3 descriptions: the bare skill is its label only
    assert counts == {"label": 4, "alt": 5, "description": 3}
    assert report.views == DEFAULT_VIEWS == ALL_VIEWS
    assert read_fingerprint(skill_collection(report.store))["views"] == "label,alt,description"
    assert (report.skills, report.added) == (4, 12)
    assert not store_layout(report.store).single


def _drop_views_key(report: SyncReport) -> None:
    """Make a store look as if built before views: no views entry in its fingerprint."""
    collection = skill_collection(report.store)
    metadata = dict(collection.metadata or {})
    metadata.pop("course_skills:views")
    collection.modify(metadata=metadata)


@pytest.mark.parametrize("built", ["with views=label", "before views"])
def test_a_label_store_resynced_without_views_keeps_its_views(
    built: str, tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    first = _sync(SKILLS, tiny_embeddings, tmp_path, views=SINGLE_VIEW)
    if built == "before views":
        _drop_views_key(first)

    again = _sync(SKILLS, tiny_embeddings, tmp_path)
    opened = open_skill_store(tiny_embeddings, persist_directory=tmp_path)

    assert again.views == SINGLE_VIEW
    assert (again.added, again.updated, again.unchanged, again.total) == (0, 0, 3, 3)
    assert store_layout(opened).single
    found = SkillRetriever(store=opened, k=3).invoke("Excel")
    assert MATCHED_VIEW_KEY not in found[0].metadata  # results as before views


def test_a_store_built_before_views_refuses_other_views(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    _drop_views_key(_sync(SKILLS, tiny_embeddings, tmp_path, views=SINGLE_VIEW))

    with pytest.raises(StoreMismatchError, match=r"holds the views label of each skill"):
        _sync(SKILLS, tiny_embeddings, tmp_path, views=DEFAULT_VIEWS)
    assert open_skill_store(tiny_embeddings, persist_directory=tmp_path, views=SINGLE_VIEW)


def test_skills_without_alt_labels_or_description_are_one_passage_each_by_default(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    greta = load_greta(GRETA)  # the real GRETA file: no alternative labels, no descriptions

    report = _sync(greta, tiny_embeddings, tmp_path)

    passages = list(iter_stored(skill_collection(report.store), with_documents=True))
    assert report.views == DEFAULT_VIEWS
    assert len(passages) == report.skills == len(greta) == 23
    assert all(text and text.strip() for _, _, text in passages)
    assert store_layout(report.store).single  # nothing to fuse: results as before views
    found = SkillRetriever(store=report.store, k=3).invoke("Lernende beraten")
    assert len(found) == 3
    assert MATCHED_VIEW_KEY not in found[0].metadata


def test_a_long_text_fuses_views_then_passages(views_store: Chroma) -> None:
    sentence = "The course teaches how to repair machines and to plan maintenance. "
    found = SkillRetriever(store=views_store, k=8, passage_tokens=24).invoke(sentence * 60)

    assert len({doc.id for doc in found}) == len(found) == 8
    assert all(MATCHED_VIEW_KEY in doc.metadata and "evidence" in doc.metadata for doc in found)


def test_views_must_include_the_label() -> None:
    with pytest.raises(ValueError, match="lack 'label'"):
        check_views(("alt",))
    with pytest.raises(ValueError, match="unknown view 'names'"):
        check_views("label,names")
    assert check_views("description, label") == ("label", "description")


def test_view_passages_ids_and_metadata() -> None:
    passages = view_passages(
        SKILLS[:1], ALL_VIEWS, {"de": [_skill("urn:s:sheets", "Excel-DE", [])]}
    )

    assert [p.id for p in passages] == [
        "urn:s:sheets",
        "urn:s:sheets#alt:1",
        "urn:s:sheets#alt:2",
        "urn:s:sheets#description",
        "urn:s:sheets#de:label",
    ]
    assert passages[3].page_content == (
        "use spreadsheets software: Use software tools to create and edit tabular data."
    )
    assert passages[4].metadata["language"] == "de"
    assert passages[4].metadata["skill_text"] == "use spreadsheets software"
    assert "alt_labels" not in passages[1].metadata


def test_max_fusion_takes_the_best_view() -> None:
    matches = [("a", "name", 0.9), ("b", "description", 0.8), ("a", "description", 0.5)]

    assert fuse_scores(matches, "max") == [("a", 0.9, 0), ("b", 0.8, 1)]


def test_blend_fusion_averages_label_and_description_and_lets_a_clear_alt_label_win() -> None:
    matches = [
        ("a", "alt", 0.95),  # 0.1 clear of a's label and description: counts, less the margin
        ("b", "alt", 0.9),  # not clear of b's label: b keeps the mean of label and description
        ("b", "label", 0.85),
        ("a", "label", 0.6),
        ("b", "description", 0.7),
        ("a", "description", 0.5),
    ]

    fused = fuse_scores(matches, "blend")

    # a: max((0.6 + 0.5) / 2, 0.95 - 0.1) = 0.85; b: max((0.85 + 0.7) / 2, 0.9 - 0.1) = 0.8
    assert [skill for skill, _, _ in fused] == ["a", "b"]
    assert [score for _, score, _ in fused] == pytest.approx([0.85, 0.8])
    assert [best for _, _, best in fused] == [0, 1]  # the matched view: each skill's best passage


def test_blend_fusion_of_a_label_only_store_is_the_label_similarity() -> None:
    matches = [("a", "label", 0.9), ("b", "label", 0.7)]

    assert fuse_scores(matches, "blend") == [("a", 0.9, 0), ("b", 0.7, 1)]


def test_mean_fusion_averages_the_best_name_and_description() -> None:
    matches = [("a", "label", 0.9), ("b", "description", 0.8), ("a", "description", 0.5)]

    # a: (0.9 + 0.5) / 2 = 0.7; b has no name match, which counts as the floor 0.5:
    # (0.5 + 0.8) / 2 = 0.65
    fused = fuse_scores(matches, "mean")
    assert [(skill, best) for skill, _, best in fused] == [("a", 0), ("b", 1)]
    assert [score for _, score, _ in fused] == pytest.approx([0.7, 0.65])


def test_rrf_fusion_favours_skills_found_by_both_groups() -> None:
    matches = [("b", "label", 0.9), ("a", "label", 0.8), ("a", "description", 0.6)]

    # a: 1/(60+2) + 1/(60+1) = 0.0325; b: 1/(60+1) = 0.0164, so a first despite b's best cosine
    assert [skill for skill, _, _ in fuse_scores(matches, "rrf")] == ["a", "b"]
