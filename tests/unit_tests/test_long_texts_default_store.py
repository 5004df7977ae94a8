"""Course texts of real length on a store built with the default views, local and on a server.

A store with several passages per skill asks Chroma for k x passages per skill results per
passage of a text; a 3,000-word course has hundreds of passages. Every request must stay
under SQLite's 32,766 variables (one per result), which a fixed page of query vectors broke.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_chroma import Chroma

from langchain_course_skills import (
    E5Embeddings,
    SkillRetriever,
)
from langchain_course_skills.courses import Course
from langchain_course_skills.mapping import map_courses
from langchain_course_skills.store import MAX_RESULTS, store_layout
from langchain_course_skills.views import DEFAULT_VIEWS
from tests.support.long_texts_default_store import (
    _lines,
    _recorded,
)

SQLITE_VARIABLES = 32_766  # SQLite's limit per statement: one variable per result


@pytest.fixture()
def requests(default_view_store: Chroma, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Record the results each search request of the local store asks for."""
    yield from _recorded(default_view_store, monkeypatch)


def test_the_store_has_the_default_views(default_view_store: Chroma) -> None:
    layout = store_layout(default_view_store)

    assert layout.views == DEFAULT_VIEWS
    assert layout.passages_per_skill > 5  # labels, alternative labels and descriptions


def test_courses_of_any_length_are_mapped_in_requests_under_the_limit(
    tmp_path: Path,
    default_view_store: Chroma,
    long_courses: list[Course],
    tiny_embeddings: E5Embeddings,
    requests: list[int],
) -> None:
    retriever = SkillRetriever(store=default_view_store, k=30)
    passages = len(retriever.passages([long_courses[-1].text])[0])
    out = tmp_path / "skills.jsonl"

    report = map_courses(long_courses, out, retriever, batch_size=2, show_progress=False)

    assert (report.mapped, report.failed) == (len(long_courses), ())
    lines = _lines(out)
    assert [line["id"] for line in lines] == [course.id for course in long_courses]
    assert all(len(line["skills"]) == 30 for line in lines)
    assert max(requests) <= MAX_RESULTS < SQLITE_VARIABLES
    # what one request per page of 512 query vectors would have asked for
    assert passages * 30 * store_layout(default_view_store).passages_per_skill > SQLITE_VARIABLES
    long_course = lines[-1]["skills"]
    assert all("fused_score" in skill for skill in long_course)
    fused = [skill["fused_score"] for skill in long_course]
    assert fused == sorted(fused, reverse=True)  # ranked by the score it shows


@pytest.mark.parametrize("k", [60, 500])
def test_the_service_limits_of_k_and_text_length_work(
    default_view_store: Chroma, long_courses: list[Course], requests: list[int], k: int
) -> None:
    found = SkillRetriever(store=default_view_store, k=k).invoke(long_courses[-1].text)

    assert len(found) == min(k, 300)  # the slice has 300 skills
    assert len({doc.id for doc in found}) == len(found)
    assert max(requests) <= MAX_RESULTS
