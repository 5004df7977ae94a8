"""Course texts of real length on a store built with the default views, local and on a server.

A store with several passages per skill asks Chroma for k x passages per skill results per
passage of a text; a 3,000-word course has hundreds of passages. Every request must stay
under SQLite's 32,766 variables (one per result), which a fixed page of query vectors broke.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
from langchain_course_skills.store import MAX_RESULTS, skill_collection, store_layout
from langchain_course_skills.views import DEFAULT_VIEWS
from tests.rankings import assert_same_ranking

SQLITE_VARIABLES = 32_766  # SQLite's limit per statement: one variable per result
WORDS = (150, 600, 1_200, 3_000)
CHARS = 20_000


def _sentences(esco_slice: Path) -> list[str]:
    """Real sentences: the descriptions of the ESCO slice."""
    with esco_slice.open(encoding="utf-8", newline="") as handle:
        return [row["description"].strip() for row in csv.DictReader(handle) if row["description"]]


def _course(sentences: list[str], *, words: int = 0, chars: int = 0) -> str:
    text, used = [], 0
    for sentence in (s for _ in range(100) for s in sentences):
        if (words and used >= words) or (chars and len(" ".join(text)) >= chars):
            break
        text.append(sentence)
        used += len(sentence.split())
    joined = " ".join(text)
    return joined[:chars] if chars else joined


@pytest.fixture(scope="module")
def courses(esco_slice: Path) -> list[Course]:
    sentences = _sentences(esco_slice)
    found = [Course(f"w{n}", _course(sentences, words=n)) for n in WORDS]
    return [*found, Course("c20000", _course(sentences, chars=CHARS))]


@pytest.fixture(scope="module")
def default_store(
    tmp_path_factory: pytest.TempPathFactory, esco_slice: Path, tiny_embeddings: E5Embeddings
) -> Chroma:
    return build_skill_store(
        load_esco_skills(esco_slice),
        tiny_embeddings,
        persist_directory=tmp_path_factory.mktemp("default-views"),
        show_progress=False,
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


@pytest.fixture()
def requests(default_store: Chroma, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Record the results each search request of the local store asks for."""
    yield from _recorded(default_store, monkeypatch)


def _recorded(store: Chroma, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    collection = skill_collection(store)
    real = collection.query
    sizes: list[int] = []

    def query(**kwargs: Any) -> Any:  # the real query, measured
        sizes.append(len(kwargs["query_embeddings"]) * kwargs["n_results"])
        return real(**kwargs)

    monkeypatch.setattr(collection, "query", query)
    yield sizes


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_store_has_the_default_views(default_store: Chroma) -> None:
    layout = store_layout(default_store)

    assert layout.views == DEFAULT_VIEWS
    assert layout.passages_per_skill > 5  # labels, alternative labels and descriptions


def test_courses_of_any_length_are_mapped_in_requests_under_the_limit(
    tmp_path: Path,
    default_store: Chroma,
    courses: list[Course],
    tiny_embeddings: E5Embeddings,
    requests: list[int],
) -> None:
    retriever = SkillRetriever(store=default_store, k=30)
    passages = len(retriever.passages([courses[-1].text])[0])
    out = tmp_path / "skills.jsonl"

    report = map_courses(courses, out, retriever, batch_size=2, show_progress=False)

    assert (report.mapped, report.failed) == (len(courses), ())
    lines = _lines(out)
    assert [line["id"] for line in lines] == [course.id for course in courses]
    assert all(len(line["skills"]) == 30 for line in lines)
    assert max(requests) <= MAX_RESULTS < SQLITE_VARIABLES
    # what one request per page of 512 query vectors would have asked for
    assert passages * 30 * store_layout(default_store).passages_per_skill > SQLITE_VARIABLES
    long_course = lines[-1]["skills"]
    assert all("fused_score" in skill for skill in long_course)
    fused = [skill["fused_score"] for skill in long_course]
    assert fused == sorted(fused, reverse=True)  # ranked by the score it shows


@pytest.mark.parametrize("k", [60, 500])
def test_the_service_limits_of_k_and_text_length_work(
    default_store: Chroma, courses: list[Course], requests: list[int], k: int
) -> None:
    found = SkillRetriever(store=default_store, k=k).invoke(courses[-1].text)

    assert len(found) == min(k, 300)  # the slice has 300 skills
    assert len({doc.id for doc in found}) == len(found)
    assert max(requests) <= MAX_RESULTS


@pytest.mark.integration  # a Chroma server
def test_courses_of_any_length_are_mapped_on_a_chroma_server(
    tmp_path: Path,
    server_store: Chroma,
    default_store: Chroma,
    courses: list[Course],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sizes = next(_recorded(server_store, monkeypatch))
    out = tmp_path / "server.jsonl"

    report = map_courses(
        courses, out, SkillRetriever(store=server_store, k=30), show_progress=False
    )

    assert (report.mapped, report.failed) == (len(courses), ())
    local = SkillRetriever(store=default_store, k=30).search_many([c.text for c in courses])
    for line, docs in zip(_lines(out), local, strict=True):  # the same skills as a local store
        score = "fused_score" if "fused_score" in line["skills"][0] else "similarity"
        assert_same_ranking(
            [(s["uri"], s[score]) for s in line["skills"]],
            [(str(d.id), d.metadata[score]) for d in docs],
            tolerance=2e-4,  # the records' scores have 4 decimals
        )
    assert max(sizes) <= MAX_RESULTS
