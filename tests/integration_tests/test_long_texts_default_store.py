"""Course texts of real length on a store built with the default views, local and on a server.

A store with several passages per skill asks Chroma for k x passages per skill results per
passage of a text; a 3,000-word course has hundreds of passages. Every request must stay
under SQLite's 32,766 variables (one per result), which a fixed page of query vectors broke."""

from __future__ import annotations

from pathlib import Path

import chromadb
import pytest
from langchain_chroma import Chroma

from langchain_course_skills import (
    E5Embeddings,
    SkillRetriever,
    build_skill_store,
    load_esco_skills,
    open_skill_store,
)
from langchain_course_skills.courses import Course
from langchain_course_skills.mapping import map_courses
from langchain_course_skills.store import MAX_RESULTS
from tests.rankings import assert_same_ranking
from tests.support.long_texts_default_store import (
    _lines,
    _recorded,
)


@pytest.fixture(scope="module")
def server_store(chroma_server: str, esco_slice: Path, tiny_embeddings: E5Embeddings) -> Chroma:
    host, port = chroma_server.removeprefix("http://").split(":")
    client = chromadb.HttpClient(host=host, port=int(port))
    build_skill_store(
        load_esco_skills(esco_slice),
        tiny_embeddings,
        client=client,
        collection_name="long-texts",
        show_progress=False,
    )
    return open_skill_store(tiny_embeddings, client=client, collection_name="long-texts")


@pytest.mark.integration  # a Chroma server
def test_courses_of_any_length_are_mapped_on_a_chroma_server(
    tmp_path: Path,
    server_store: Chroma,
    default_view_store: Chroma,
    long_courses: list[Course],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sizes = next(_recorded(server_store, monkeypatch))
    out = tmp_path / "server.jsonl"

    report = map_courses(
        long_courses, out, SkillRetriever(store=server_store, k=30), show_progress=False
    )

    assert (report.mapped, report.failed) == (len(long_courses), ())
    local = SkillRetriever(store=default_view_store, k=30).search_many(
        [c.text for c in long_courses]
    )
    for line, docs in zip(_lines(out), local, strict=True):  # the same skills as a local store
        score = "fused_score" if "fused_score" in line["skills"][0] else "similarity"
        assert_same_ranking(
            [(s["uri"], s[score]) for s in line["skills"]],
            [(str(d.id), d.metadata[score]) for d in docs],
            tolerance=2e-4,  # the records' scores have 4 decimals
        )
    assert max(sizes) <= MAX_RESULTS
