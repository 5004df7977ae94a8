"""Review mode through FastAPI's TestClient: a catalogue held for review, course by course.

Real models (the tiny fixtures), a real embedded Chroma store, a real `course-skills map` output
(`map_courses`) and a real SQLite file, opened again by a new app to show what survives.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from langchain_core.documents import Document
from pydantic import SecretStr

from langchain_course_skills import SkillRetriever, build_skill_store, load_esco_skills
from langchain_course_skills.embeddings import E5Embeddings
from langchain_course_skills.mapping import map_courses
from langchain_course_skills.service import app as service_app
from langchain_course_skills.service.skills import SkillService
from tests.unit_tests.test_service import ESCO_URI, TOKEN, service, serving, store_dir  # noqa: F401

TOPICS = [
    "manage musical staff and plan the orchestra's rehearsals",
    "bake bread and pastries in a small bakery",
    "Projekte planen und steuern",
    "build a website with WordPress",
    "keep the accounts of a small business",
    "teach adults in evening classes",
]
MAPPED_TOP_N = 4  # skills per course in the map output
# What a CSV map output holds of a skill (no matched view or text).
CSV_KEYS = ("rank", "uri", "label", "taxonomy", "similarity", "relevance_score", "evidence")


def _catalogue(count: int = len(TOPICS)) -> list[dict[str, str]]:
    return [
        {"id": f"K-{n}", "title": f"Course {n}", "description": TOPICS[(n - 1) % len(TOPICS)]}
        for n in range(1, count + 1)
    ]


def _jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


@pytest.fixture(scope="module")
def mapped(service: SkillService, tmp_path_factory: pytest.TempPathFactory) -> str:  # noqa: F811
    """The real `course-skills map` output of `_catalogue()` (JSONL, re-ranked)."""
    folder = tmp_path_factory.mktemp("review-map")
    source = folder / "catalogue.jsonl"
    source.write_text(_jsonl(_catalogue()), encoding="utf-8")
    out = folder / "skills.jsonl"
    retriever = service.retriever.model_copy(update={"top_n": MAPPED_TOP_N})
    map_courses(source, out, retriever, show_progress=False)
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def mapped_csv(service: SkillService, tmp_path_factory: pytest.TempPathFactory) -> str:  # noqa: F811
    """The same output written as CSV."""
    folder = tmp_path_factory.mktemp("review-map-csv")
    source = folder / "catalogue.jsonl"
    source.write_text(_jsonl(_catalogue()), encoding="utf-8")
    out = folder / "skills.csv"
    retriever = service.retriever.model_copy(update={"top_n": MAPPED_TOP_N})
    map_courses(source, out, retriever, show_progress=False)
    return out.read_text(encoding="utf-8")


@pytest.fixture()
def client(service: SkillService, tmp_path: Path) -> Iterator[TestClient]:  # noqa: F811
    with serving(lambda: service, tmp_path / "feedback.sqlite3") as client:
        yield client


def _upload(client: TestClient, **body: Any) -> Any:
    return client.put("/v1/review/catalogue", json=body)


def _list(client: TestClient, **query: Any) -> dict[str, Any]:
    response = client.get("/v1/review/courses", params=query)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _done(client: TestClient, course_id: str, curator: str, done: bool = True) -> Any:
    return client.post(
        f"/v1/review/courses/{course_id}/done", json={"curator": curator, "done": done}
    )


# --- upload -------------------------------------------------------------------------------------


def test_an_uploaded_catalogue_is_listed_in_order_with_its_exact_texts(client: TestClient) -> None:
    uploaded = _upload(client, catalogue=_jsonl(_catalogue()), name="spring.jsonl")

    listed = _list(client)
    detail = client.get("/v1/review/courses/K-2").json()

    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["courses"] == len(TOPICS)
    assert (uploaded.json()["name"], uploaded.json()["mapped"]) == ("spring.jsonl", 0)
    assert [c["id"] for c in listed["courses"]] == [f"K-{n}" for n in range(1, 7)]
    assert [c["position"] for c in listed["courses"]] == [1, 2, 3, 4, 5, 6]
    assert (listed["total"], listed["catalogue_courses"], listed["reviewed"]) == (6, 6, 0)
    assert all(c["skills"] is None for c in listed["courses"])  # not mapped: searched on the page
    # title and description joined as `course-skills map` joins them
    assert detail["text"] == f"Course 2\n\n{TOPICS[1]}"
    assert (detail["mapped"], detail["skills"], detail["reviewed_by"]) == (False, [], [])


def test_a_catalogue_larger_than_a_request_body_is_held(client: TestClient) -> None:
    limits = client.get("/v1/info").json()["limits"]
    text = " ".join(["Participants plan rehearsals and manage musical staff."] * 360)  # 20,000
    lines = [{"id": f"L-{n}", "text": text} for n in range(300)]
    catalogue = _jsonl(lines)

    uploaded = _upload(client, catalogue=catalogue, name="large.jsonl")

    assert limits["max_body_bytes"] < len(catalogue.encode()) < limits["max_catalogue_bytes"]
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["courses"] == 300
    assert client.get("/v1/review/courses/L-299").json()["text"] == text


def test_a_csv_map_output_is_joined_as_its_jsonl_output_is(
    client: TestClient, mapped: str, mapped_csv: str
) -> None:
    details = []
    for output in (mapped, mapped_csv):
        uploaded = _upload(client, catalogue=_jsonl(_catalogue()), mapped=output)
        assert uploaded.status_code == 200, uploaded.text
        assert uploaded.json()["mapped"] == len(TOPICS)
        courses = [client.get(f"/v1/review/courses/K-{n}").json() for n in range(1, 7)]
        details.append(
            [
                [{key: skill.get(key) for key in CSV_KEYS} for skill in course["skills"]]
                for course in courses
            ]
        )
    broken = mapped_csv.splitlines(keepends=True)
    cut = _upload(client, catalogue=_jsonl(_catalogue()), mapped="".join(broken[:-1]))

    assert details[0] == details[1]  # what the CSV holds: scores to the same digits, evidence
    assert all(len(skills) == MAPPED_TOP_N for skills in details[1])
    assert cut.status_code == 422
    assert "lacks 1 of its rows" in cut.json()["message"]


def test_a_catalogue_with_a_text_field_is_read_by_it(client: TestClient) -> None:
    lines = [{"id": "A", "text": "bake bread"}, {"id": "B", "text": "plan rehearsals"}]

    assert _upload(client, catalogue=_jsonl(lines)).status_code == 200
    assert client.get("/v1/review/courses/B").json()["text"] == "plan rehearsals"


def test_a_map_output_is_joined_with_its_catalogue_by_id(client: TestClient, mapped: str) -> None:
    records = {r["id"]: r for r in map(json.loads, mapped.splitlines())}

    uploaded = _upload(client, catalogue=_jsonl(_catalogue()), mapped=mapped)
    detail = client.get("/v1/review/courses/K-1").json()

    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["mapped"] == len(TOPICS)
    expected = records["K-1"]["skills"]
    assert [s["uri"] for s in detail["skills"]] == [s["uri"] for s in expected]
    for shown, stored in zip(detail["skills"], expected):
        assert shown["relevance_score"] == stored["relevance_score"]
        assert shown["similarity"] == stored["similarity"]
        assert shown["evidence"] == stored["evidence"]
    # the store's description of each ESCO skill comes with it
    esco = [s for s in detail["skills"] if s["taxonomy"] == "ESCO"]
    assert all(s["description"] for s in esco)
    listed = _list(client)["courses"]
    assert [c["skills"] for c in listed] == [MAPPED_TOP_N] * len(TOPICS)
    best = max(s["relevance_score"] for s in expected)
    assert listed[0]["best_score"] == pytest.approx(best)


def test_a_map_output_without_its_catalogue_is_refused_naming_the_catalogue(
    client: TestClient, mapped: str
) -> None:
    response = _upload(client, catalogue=mapped)

    assert response.status_code == 422
    message = response.json()["message"]
    assert message.startswith("catalogue: ")
    assert "has no course text" in message
    assert "upload the catalogue it was mapped from" in message
    assert client.get("/v1/review/catalogue").status_code == 404  # nothing was held


def test_a_map_output_of_other_texts_is_refused(client: TestClient, mapped: str) -> None:
    changed = _catalogue()
    changed[2]["description"] = "a different course now"

    response = _upload(client, catalogue=_jsonl(changed), mapped=mapped)

    assert response.status_code == 422
    message = response.json()["message"]
    assert message.startswith("mapped: mapped, line 3: course 'K-3' was mapped from another")
    assert "upload the catalogue that was mapped" in message


def test_a_map_output_with_a_course_the_catalogue_lacks_is_refused(
    client: TestClient, mapped: str
) -> None:
    response = _upload(client, catalogue=_jsonl(_catalogue(3)), mapped=mapped)

    assert response.status_code == 422
    assert "course 'K-4' is not in the catalogue" in response.json()["message"]


@pytest.mark.parametrize(
    ("catalogue", "expected"),
    [
        ("\n\n", "the catalogue holds no course"),
        ('{"id": "A", "text": "x"}\nnot json\n', "line 2: not valid JSON"),
        ('{"id": "A", "text": "x"}\n{"id": "A", "text": "y"}\n', "the id appears twice"),
        ('{"text": "no id"}\n', "no id"),
        ('{"id": "A", "text": "   "}\n', "the text is empty"),
        ('{"id": "A", "text": "' + "x" * 20_001 + '"}\n', "more than a verdict may carry"),
        ('{"id": "A", "text": "x", "skills": [{"label": "no uri"}]}\n', "a skill needs a `uri`"),
        (
            '{"id": "A", "text": "short", "skills": [{"uri": "u", "evidence": {"start": 0, '
            '"end": 99}}]}\n',
            "is not a passage of the course text",
        ),
    ],
)
def test_an_unusable_catalogue_is_a_422_that_says_what_to_fix(
    client: TestClient, catalogue: str, expected: str
) -> None:
    response = _upload(client, catalogue=catalogue)

    assert response.status_code == 422
    assert response.json()["message"].startswith("catalogue: ")
    assert expected in response.json()["message"]


def test_without_a_catalogue_review_routes_answer_404_saying_how_to_upload(
    client: TestClient,
) -> None:
    for path in ("/v1/review/catalogue", "/v1/review/courses", "/v1/review/courses/K-1"):
        response = client.get(path)
        assert response.status_code == 404
        assert "upload one with PUT /v1/review/catalogue" in response.json()["detail"]


def test_an_unknown_course_is_a_404_naming_it(client: TestClient) -> None:
    _upload(client, catalogue=_jsonl(_catalogue()))

    response = client.get("/v1/review/courses/K-99")
    done = _done(client, "K-99", "ana")

    assert response.status_code == 404
    assert "has no course 'K-99'" in response.json()["detail"]
    assert done.status_code == 404


# --- status, progress, pages --------------------------------------------------------------------


def test_done_marks_decide_reviewed_and_open_per_curator(client: TestClient) -> None:
    _upload(client, catalogue=_jsonl(_catalogue()))

    marked = _done(client, "K-2", "ana")
    _done(client, "K-5", "ana")
    _done(client, "K-5", "ben")
    everyone = _list(client, status="reviewed")
    open_for_ana = _list(client, status="open", curator="ana")
    for_ben = _list(client, status="reviewed", curator="ben")
    taken_back = _done(client, "K-2", "ana", done=False)
    after = _list(client, curator="ana")

    assert marked.status_code == 200
    assert marked.json() == {"id": "K-2", "reviewed_by": ["ana"]}
    assert [c["id"] for c in everyone["courses"]] == ["K-2", "K-5"]
    assert everyone["courses"][1]["reviewed_by"] == ["ana", "ben"]
    assert (everyone["total"], everyone["reviewed"], everyone["catalogue_courses"]) == (2, 2, 6)
    assert [c["id"] for c in open_for_ana["courses"]] == ["K-1", "K-3", "K-4", "K-6"]
    assert [c["id"] for c in for_ben["courses"]] == ["K-5"]
    assert taken_back.json()["reviewed_by"] == []
    assert after["reviewed"] == 1  # 1 of 6 reviewed by ana: K-5


def test_pages_walk_every_course_once(client: TestClient) -> None:
    _upload(client, catalogue=_jsonl(_catalogue(20)))

    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = _list(client, limit=7, offset=offset)
        seen += [course["id"] for course in page["courses"]]
        offset = page["next_offset"]

    assert seen == [f"K-{n}" for n in range(1, 21)]  # pages of 7, 7 and 6
    assert client.get("/v1/review/courses", params={"limit": 0}).status_code == 422
    assert client.get("/v1/review/courses", params={"status": "done"}).status_code == 422
    assert client.get("/v1/review/courses", params={"min_score": 2}).status_code == 422


def test_min_score_keeps_courses_with_a_skill_scoring_at_least_it(client: TestClient) -> None:
    # A catalogue whose lines carry their skills, as `course-skills map` writes them.
    def skill(**scores: float) -> dict[str, Any]:
        return {"uri": ESCO_URI, "label": "manage musical staff", "taxonomy": "ESCO", **scores}

    lines = [
        {"id": "high", "text": "a", "skills": [skill(similarity=0.8, relevance_score=0.9)]},
        {"id": "low", "text": "b", "skills": [skill(similarity=0.9, relevance_score=0.3)]},
        {"id": "unmapped", "text": "c"},
        {"id": "first-stage", "text": "d", "skills": [skill(similarity=0.6)]},
        {"id": "none", "text": "e", "skills": []},
    ]
    _upload(client, catalogue=_jsonl(lines))

    kept = _list(client, min_score=0.5)

    # relevance where re-ranked (0.9 kept, 0.3 not), else similarity (0.6 kept); an unmapped
    # course is kept, a course mapped to no skill is not
    assert [c["id"] for c in kept["courses"]] == ["high", "unmapped", "first-stage"]
    assert (kept["total"], kept["catalogue_courses"]) == (3, 5)
    assert [c["best_score"] for c in _list(client)["courses"]] == [0.9, 0.3, None, 0.6, None]


# --- verdicts in a course, lookup ---------------------------------------------------------------


def test_a_course_shows_its_verdicts_and_a_skill_added_by_lookup(
    client: TestClient, mapped: str
) -> None:
    _upload(client, catalogue=_jsonl(_catalogue()), mapped=mapped)
    course = client.get("/v1/review/courses/K-1").json()
    first = course["skills"][0]
    found = client.get("/v1/skills/lookup", params={"q": "MUSICAL staff"}).json()["skills"]
    added = found[0]

    for uri, verdict, curator in (
        (first["uri"], "rejected", "ana"),
        (added["uri"], "accepted", "ben"),
    ):
        body = {"text": course["text"], "course_id": "K-1", "uri": uri, "verdict": verdict}
        assert client.post("/v1/feedback", json={**body, "curator": curator}).status_code == 201
    after = client.get("/v1/review/courses/K-1").json()
    listed = _list(client)["courses"][0]

    assert (added["uri"], added["label"]) == (ESCO_URI, "manage musical staff")
    assert added["description"]
    assert added["uri"] not in {s["uri"] for s in course["skills"]}  # the mapping missed it
    assert (after["skills"][0]["verdict"], after["skills"][0]["curator"]) == ("rejected", "ana")
    assert after["skills"][-1]["uri"] == added["uri"]  # added after the mapped ones
    assert (after["skills"][-1]["verdict"], after["skills"][-1]["curator"]) == ("accepted", "ben")
    assert (listed["accepted"], listed["rejected"]) == (1, 1)


def test_lookup_finds_a_skill_indexed_while_the_service_runs(
    tmp_path: Path,
    esco_slice: Path,
    tiny_embeddings: E5Embeddings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "skills-db"
    skills = load_esco_skills(esco_slice)[:20]
    store = build_skill_store(skills, tiny_embeddings, persist_directory=db, show_progress=False)
    own = Document(
        id="own:zither",
        page_content="tune zithers",
        metadata={"label": "tune zithers", "uri": "own:zither", "taxonomy": "OWN"},
    )
    running = SkillService(
        retriever=SkillRetriever(store=store), store_info={}, models={"embedding": "tiny"}
    )
    monkeypatch.setattr(service_app, "LABELS_CHECK_S", 0.0)  # check on every lookup

    with serving(lambda: running, tmp_path / "feedback.sqlite3") as client:
        before = client.get("/v1/skills/lookup", params={"q": "zither"}).json()["skills"]
        build_skill_store(
            [*skills, own], tiny_embeddings, persist_directory=db, show_progress=False
        )
        after = client.get("/v1/skills/lookup", params={"q": "zither"}).json()["skills"]

    assert before == []
    assert [(skill["uri"], skill["label"]) for skill in after] == [("own:zither", "tune zithers")]


def test_lookup_finds_labels_by_every_word_exact_first(client: TestClient) -> None:
    found = client.get("/v1/skills/lookup", params={"q": "manage musical staff"}).json()["skills"]
    none = client.get("/v1/skills/lookup", params={"q": "zzzz qqqq"}).json()["skills"]
    few = client.get("/v1/skills/lookup", params={"q": "a", "limit": 3}).json()["skills"]

    assert found[0]["label"] == "manage musical staff"
    assert none == []
    assert len(few) == 3
    assert client.get("/v1/skills/lookup", params={"q": ""}).status_code == 422
    assert client.get("/v1/skills/lookup", params={"q": "a", "limit": 51}).status_code == 422


def test_describe_returns_the_stores_skills_in_order(client: TestClient) -> None:
    greta = "GRETA/LerninhalteUndZiele"

    response = client.post("/v1/skills/describe", json={"uris": [greta, "urn:none", ESCO_URI]})

    assert response.status_code == 200
    skills = response.json()["skills"]
    assert [s["uri"] for s in skills] == [greta, ESCO_URI]
    assert skills[0]["label"] == "Lerninhalte und -ziele"
    assert skills[0]["description"]  # GRETA's requirements describe a facet


def test_a_verdict_carries_the_model_and_the_store_fingerprint(client: TestClient) -> None:
    info = client.get("/v1/info").json()

    stored = client.post(
        "/v1/feedback", json={"text": TOPICS[0], "uri": ESCO_URI, "verdict": "accepted"}
    ).json()

    assert stored["model"] == info["models"]["embedding"]
    assert stored["reranker"] == info["models"]["reranker"]
    assert len(stored["store_fingerprint"]) == 16


# --- durability and sharing ---------------------------------------------------------------------


def test_the_catalogue_and_done_marks_survive_a_restart(
    service: SkillService,  # noqa: F811
    tmp_path: Path,
    mapped: str,
) -> None:
    path = tmp_path / "feedback.sqlite3"
    with serving(lambda: service, path) as first:
        _upload(first, catalogue=_jsonl(_catalogue()), mapped=mapped)
        _done(first, "K-3", "ana")
        before = first.get("/v1/review/courses/K-3").json()

    with serving(lambda: service, path) as second:
        listed = _list(second, status="reviewed")
        after = second.get("/v1/review/courses/K-3").json()

    assert [c["id"] for c in listed["courses"]] == ["K-3"]
    assert after == before


def test_a_new_upload_keeps_done_marks_of_unchanged_courses(client: TestClient) -> None:
    _upload(client, catalogue=_jsonl(_catalogue()))
    _done(client, "K-1", "ana")
    _done(client, "K-2", "ana")
    changed = _catalogue()
    changed[1]["description"] = "a new text for K-2"

    _upload(client, catalogue=_jsonl(changed))

    assert [c["id"] for c in _list(client, status="reviewed")["courses"]] == ["K-1"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/v1/review/catalogue"),
        ("GET", "/v1/review/catalogue"),
        ("GET", "/v1/review/courses"),
        ("GET", "/v1/review/courses/K-1"),
        ("POST", "/v1/review/courses/K-1/done"),
        ("GET", "/v1/skills/lookup?q=bake"),
        ("POST", "/v1/skills/describe"),
    ],
)
def test_review_routes_need_the_token(
    service: SkillService,  # noqa: F811
    tmp_path: Path,
    method: str,
    path: str,
) -> None:
    with serving(lambda: service, tmp_path / "f.sqlite3", token=SecretStr(TOKEN)) as guarded:
        refused = guarded.request(method, path, json={})
        allowed = guarded.request(
            method, path, json={}, headers={"Authorization": f"Bearer {TOKEN}"}
        )

    assert refused.status_code == 401
    assert allowed.status_code != 401
