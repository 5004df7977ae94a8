"""Several views of each skill in one store (views.py): building, syncing and fused retrieval."""

from pathlib import Path
from typing import Any

import pytest

from langchain_course_skills import (
    E5Embeddings,
    SkillCrossEncoder,
    SkillReranker,
    SkillRetriever,
    load_esco_skills,
    open_skill_store,
)
from langchain_course_skills.store import (
    read_fingerprint,
    skill_collection,
    store_layout,
    view_counts,
)
from langchain_course_skills.store._faults import set_fault_hook
from langchain_course_skills.views import (
    view_passages,
)
from langchain_course_skills.vocabulary import MATCHED_TEXT_KEY, MATCHED_VIEW_KEY
from tests.support.views import ALL_VIEWS, SKILLS, _Counting, _german, _sync


def test_a_skill_matched_by_an_alt_label_is_returned_once_as_the_skill(
    tmp_path: Path, minilm_embeddings: E5Embeddings
) -> None:
    store = _sync(SKILLS, minilm_embeddings, tmp_path, views=ALL_VIEWS).store

    found = SkillRetriever(store=store, k=3).invoke("Excel")

    assert [doc.id for doc in found][0] == "urn:s:sheets"
    assert len({doc.id for doc in found}) == len(found) == 3
    best = found[0]
    assert best.page_content == "use spreadsheets software"  # the skill's main text
    assert (best.metadata[MATCHED_VIEW_KEY], best.metadata[MATCHED_TEXT_KEY]) == ("alt", "Excel")
    assert best.metadata["label"] == "use spreadsheets software"


def test_english_and_german_labels_return_each_skill_once(
    tmp_path: Path, esco_slice: Path, minilm_embeddings: E5Embeddings
) -> None:
    english = load_esco_skills(esco_slice)[:40]
    store = _sync(
        english, minilm_embeddings, tmp_path, views=("label",), translations={"de": _german()}
    ).store

    found = SkillRetriever(store=store, k=20).invoke(english[3].metadata["label"])

    assert len({doc.id for doc in found}) == len(found) == 20
    assert found[0].id == english[3].id
    assert {str(doc.id) for doc in found} <= {str(doc.id) for doc in english}
    in_german = len({str(d.id) for d in english} & {str(d.id) for d in _german()})
    assert 0 < in_german < 40  # ESCO 1.0.3 (German) lacks some skills of 1.1.1 (English)
    assert view_counts(skill_collection(store)) == {"de:label": in_german, "label": 40}
    assert store_layout(store).languages == ("de",)


def test_a_german_label_match_reports_the_german_view(
    tmp_path: Path, esco_slice: Path, minilm_embeddings: E5Embeddings
) -> None:
    english = load_esco_skills(esco_slice)[:40]
    german = {str(doc.id): doc for doc in _german()}
    store = _sync(english, minilm_embeddings, tmp_path, translations={"de": _german()}).store
    skill = next(doc for doc in english[5:] if str(doc.id) in german)
    query = german[str(skill.id)].page_content

    best = SkillRetriever(store=store, k=5).invoke(query)[0]

    assert best.id == skill.id
    assert best.page_content == skill.page_content  # reported in the main language
    assert (best.metadata[MATCHED_VIEW_KEY], best.metadata[MATCHED_TEXT_KEY]) == ("de:label", query)


class _Interrupted(Exception):
    pass


def _stop_at(point: str) -> Any:
    def hook(reached: str) -> None:
        if reached == point:
            raise _Interrupted(point)

    return hook


def test_a_build_interrupted_after_the_labels_is_searchable_and_resumes(
    tmp_path: Path, esco_slice: Path, minilm_path: Path
) -> None:
    docs = load_esco_skills(esco_slice)[:40]
    counting = _Counting(model_name=str(minilm_path))
    set_fault_hook(_stop_at("labels-in"))
    try:
        with pytest.raises(_Interrupted):
            _sync(docs, counting, tmp_path, views=ALL_VIEWS, batch_size=16)
    finally:
        set_fault_hook(None)

    store = open_skill_store(counting, persist_directory=tmp_path)
    counts = view_counts(skill_collection(store))
    assert counts["label"] >= len(docs)  # every skill by its label, maybe a few more passages
    assert sum(counts.values()) < len(view_passages(docs, ALL_VIEWS))
    found = SkillRetriever(vectorstore=store, k=5).invoke(docs[3].page_content)
    assert len(found) == 5
    assert docs[3].page_content in [doc.page_content for doc in found]
    assert read_fingerprint(skill_collection(store))["skills"] == len(docs)

    before = len(counting._seen)
    resumed = _sync(docs, counting, tmp_path, views=ALL_VIEWS)

    assert resumed.total == len(view_passages(docs, ALL_VIEWS))
    assert resumed.added == resumed.total - sum(counts.values())
    assert len(counting._seen) - before <= resumed.added  # only what was missing


def test_the_reranker_scores_the_skills_main_text(
    tmp_path: Path, minilm_embeddings: E5Embeddings, tiny_cross_encoder: Path
) -> None:
    store = _sync(SKILLS, minilm_embeddings, tmp_path, views=ALL_VIEWS).store
    encoder = SkillCrossEncoder(model_name=str(tiny_cross_encoder), precision="fp32")
    reranker = SkillReranker(cross_encoder=encoder, top_n=3)

    found = SkillRetriever(store=store, k=3, reranker=reranker).invoke("Excel")

    main = {str(s.id): s.page_content for s in SKILLS}
    assert [doc.page_content for doc in found] == [main[str(doc.id)] for doc in found]
    expected = encoder.score([("Excel", doc.page_content) for doc in found])
    assert [doc.metadata["relevance_score"] for doc in found] == pytest.approx(expected)
