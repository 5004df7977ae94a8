"""The HTTP service through FastAPI's TestClient: every endpoint, bad input, auth, load shedding.

Real models (the tiny fixtures), a real embedded Chroma store, a real SQLite feedback file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import chromadb
import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from langchain_course_skills import (
    SkillCrossEncoder,
    SkillReranker,
    SkillRetriever,
    StoreNotFoundError,
    build_skill_store,
    load_esco_skills,
    load_greta,
)
from langchain_course_skills.cli._common import result_records
from langchain_course_skills.embeddings import E5Embeddings
from langchain_course_skills.service.admission import Admission, Overloaded
from langchain_course_skills.service.app import ServiceSettings, create_app
from langchain_course_skills.service.schemas import MAX_K, MAX_MAP_COURSES, MAX_TEXT_CHARS
from langchain_course_skills.service.skills import SkillService
from langchain_course_skills.store import describe_collection
from tests.conftest import GRETA

TEXT = "manage musical staff and plan the orchestra's rehearsals"
TOKEN = "s3cret-token-for-tests-0123456789"
ESCO_URI = "http://data.europa.eu/esco/skill/0005c151-5b5a-4a66-8aac-60e734beb1ab"  # line 1


@pytest.fixture(scope="module")
def store_dir(
    tmp_path_factory: pytest.TempPathFactory, esco_slice: Path, tiny_embeddings: E5Embeddings
) -> Path:
    """An embedded store with 300 ESCO skills and the 23 GRETA facets."""
    db = tmp_path_factory.mktemp("service") / "skills-db"
    documents = load_esco_skills(esco_slice) + load_greta(GRETA)
    build_skill_store(documents, tiny_embeddings, persist_directory=db, show_progress=False)
    return db


@pytest.fixture(scope="module")
def service(
    store_dir: Path, tiny_embeddings: E5Embeddings, tiny_cross_encoder: Path
) -> SkillService:
    """The service's models and store, as `course-skills serve` loads them."""
    from langchain_course_skills import open_skill_store

    store = open_skill_store(tiny_embeddings, persist_directory=store_dir)
    collection = chromadb.PersistentClient(path=str(store_dir)).get_collection("skills")
    reranker = SkillReranker(cross_encoder=SkillCrossEncoder(model_name=tiny_cross_encoder))
    return SkillService(
        retriever=SkillRetriever(store=store, reranker=reranker),
        store_info=describe_collection(collection),
        models={
            "embedding": tiny_embeddings.model_name,
            "reranker": str(tiny_cross_encoder),
            "device": "cpu",
            "precision": "fp32",
        },
    )


@contextmanager
def serving(
    load: Callable[[], SkillService], feedback: Path, *, wait: bool = True, **settings: Any
) -> Iterator[TestClient]:
    app = create_app(load, ServiceSettings(feedback_path=feedback, **settings))
    with TestClient(app) as client:
        if wait:
            assert app.state.loader.wait(120)
        yield client


@pytest.fixture()
def client(service: SkillService, tmp_path: Path) -> Iterator[TestClient]:
    with serving(lambda: service, tmp_path / "feedback.sqlite3") as client:
        yield client


def _search(client: TestClient, **body: Any) -> httpx.Response:
    return client.post("/v1/skills/search", json={"text": TEXT, **body})


# --- health -------------------------------------------------------------------------------------


def test_healthz_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "detail": None}


def test_readyz_answers_ready_once_loaded(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


def test_while_loading_readyz_and_search_answer_503_and_healthz_200(
    service: SkillService, tmp_path: Path
) -> None:
    release = threading.Event()

    def slow_load() -> SkillService:
        release.wait(60)
        return service

    with serving(slow_load, tmp_path / "f.sqlite3", wait=False) as client:
        ready, search = client.get("/readyz"), _search(client)
        health = client.get("/healthz")
        release.set()
        assert client.app.state.loader.wait(60)  # type: ignore[attr-defined]
        after = client.get("/readyz")

    assert (ready.status_code, ready.json()["status"]) == (503, "loading")
    assert ready.headers["Retry-After"] == "5"
    assert search.status_code == 503 and "loading" in search.json()["detail"]
    assert health.status_code == 200
    assert after.status_code == 200


def test_a_failed_load_makes_readyz_say_why(tmp_path: Path) -> None:
    def failing_load() -> SkillService:
        msg = "no skill store at 'nowhere'; build it first"
        raise StoreNotFoundError(msg)

    with serving(failing_load, tmp_path / "f.sqlite3") as client:
        ready, search = client.get("/readyz"), _search(client)

    assert ready.status_code == 503
    assert ready.json() == {
        "status": "failed",
        "detail": "no skill store at 'nowhere'; build it first",
    }
    assert search.status_code == 503 and "failed to start" in search.json()["detail"]


# --- search and map -----------------------------------------------------------------------------


def test_search_returns_what_the_library_returns(client: TestClient, service: SkillService) -> None:
    expected = result_records(service.retriever.invoke(TEXT, k=30, top_n=5))

    response = _search(client, k=30, top_n=5)

    assert response.status_code == 200
    body = response.json()
    assert body["reranked"] is True
    assert body["skills"] == expected
    assert [s["rank"] for s in body["skills"]] == [1, 2, 3, 4, 5]
    # A text within the model's limit is read whole: its evidence is the whole text.
    assert all(s["evidence"] == {"start": 0, "end": len(TEXT)} for s in body["skills"])


def test_search_without_rerank_returns_the_top_n_most_similar(
    client: TestClient, service: SkillService
) -> None:
    plain = service.retriever.model_copy(update={"reranker": None})
    expected = result_records(plain.invoke(TEXT, top_n=4))  # the best 4 of the k candidates

    response = _search(client, rerank=False, top_n=4)

    assert response.status_code == 200
    assert response.json()["reranked"] is False
    assert response.json()["skills"] == expected
    assert all(s["relevance_score"] is None for s in response.json()["skills"])


@pytest.mark.parametrize("rerank", [False, True])
def test_search_drops_skills_below_min_score(client: TestClient, rerank: bool) -> None:
    # The tiny random models score every skill about the same: a cut above all and one below.
    score = "relevance_score" if rerank else "similarity"
    every = _search(client, rerank=rerank, k=10, top_n=10).json()["skills"]
    low, high = min(s[score] for s in every), max(s[score] for s in every)

    below = _search(client, rerank=rerank, k=10, top_n=10, min_score=low * 0.99).json()

    assert below["skills"] == every
    if high < 0.99:  # the tiny bi-encoder's similarities are all about 1
        above = _search(client, rerank=rerank, k=10, top_n=10, min_score=high * 1.01)
        assert above.json()["skills"] == []
    assert _search(client, min_score=1.5).status_code == 422


def test_search_filters_by_taxonomy(client: TestClient) -> None:
    response = _search(client, taxonomies=["GRETA"], top_n=3)

    assert response.status_code == 200
    assert {s["taxonomy"] for s in response.json()["skills"]} == {"GRETA"}


def test_search_of_an_unknown_taxonomy_is_a_422_naming_it(client: TestClient) -> None:
    response = _search(client, taxonomies=["DigComp"])

    assert response.status_code == 422
    assert response.json()["message"].startswith("taxonomies: the store has no skills of")
    assert "'ESCO', 'GRETA'" in response.json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "   \n "}, "text"),
        ({"text": "x" * (MAX_TEXT_CHARS + 1)}, "text"),
        ({}, "text"),
        ({"text": TEXT, "k": 0}, "k"),
        ({"text": TEXT, "k": 201}, "k"),
        ({"text": TEXT, "k": "many"}, "k"),
        ({"text": TEXT, "k": 5, "top_n": 6}, "top_n"),
        ({"text": TEXT, "top_n": 0}, "top_n"),
        ({"text": TEXT, "taxonomies": []}, "taxonomies"),
        ({"text": TEXT, "taxonomies": "ESCO"}, "taxonomies"),
        ({"text": TEXT, "taxonomies": ["x" * 201]}, "taxonomies.0"),
        ({"text": TEXT, "rerank": "perhaps"}, "rerank"),
        ({"text": TEXT, "topn": 3}, "topn"),
    ],
)
def test_bad_search_input_is_a_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    response = client.post("/v1/skills/search", json=body)

    assert response.status_code == 422
    message = response.json()["message"]
    assert message.startswith(f"{field}: "), message
    assert "x" * 100 not in response.text  # the input is not echoed back


def test_a_body_that_is_not_json_is_a_422(client: TestClient) -> None:
    response = client.post(
        "/v1/skills/search", content=b"{not json", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert "JSON" in response.json()["message"]


def test_rerank_on_a_service_without_reranker_is_a_422(
    service: SkillService, tmp_path: Path
) -> None:
    plain = SkillService(
        retriever=service.retriever.model_copy(update={"reranker": None}),
        store_info=service.store_info,
        models={**service.models, "reranker": None},
    )
    with serving(lambda: plain, tmp_path / "f.sqlite3") as client:
        refused, default = _search(client, rerank=True), _search(client)

    assert refused.status_code == 422
    assert refused.json()["message"].startswith("rerank: this service runs without a reranker")
    assert default.status_code == 200 and default.json()["reranked"] is False


def test_map_returns_each_course_as_search_would(client: TestClient) -> None:
    courses = [
        {"id": "c1", "text": TEXT},
        {"id": "c2", "text": "bake bread and pastries"},
        {"id": "c3", "text": "Projekte planen und steuern"},
    ]

    response = client.post("/v1/skills/map", json={"courses": courses, "top_n": 3})
    alone = _search(client, text="bake bread and pastries", top_n=3)

    assert response.status_code == 200
    mapped = response.json()["courses"]
    assert [c["id"] for c in mapped] == ["c1", "c2", "c3"]
    assert all(len(c["skills"]) == 3 for c in mapped)
    assert mapped[1]["skills"] == alone.json()["skills"]


def test_the_longest_text_with_the_largest_k_is_answered(client: TestClient) -> None:
    text = " ".join([TEXT] * 400)[:MAX_TEXT_CHARS]  # far over the model: read in passages

    response = _search(client, text=text, k=MAX_K, top_n=MAX_K, rerank=False)

    assert response.status_code == 200, response.text
    skills = response.json()["skills"]
    assert len(skills) == MAX_K
    fused = [skill["fused_score"] for skill in skills]
    assert fused == sorted(fused, reverse=True)  # ranked by the score the answer shows


def test_a_body_over_the_documented_size_is_a_413(client: TestClient) -> None:
    limit = client.get("/v1/info").json()["limits"]["max_body_bytes"]
    body = json.dumps({"text": "x" * limit}).encode("utf-8")

    declared = client.post(
        "/v1/skills/search", content=body, headers={"content-type": "application/json"}
    )
    chunked = client.post(
        "/v1/skills/search",
        content=(body[i : i + 65_536] for i in range(0, len(body), 65_536)),
        headers={"content-type": "application/json"},
    )

    for response in (declared, chunked):
        assert response.status_code == 413
        assert f"larger than {limit:,} bytes" in response.json()["detail"]
    assert _search(client).status_code == 200


@pytest.mark.parametrize(
    ("courses", "field"),
    [
        ([], "courses"),
        ([{"id": f"c{i}", "text": TEXT} for i in range(MAX_MAP_COURSES + 1)], "courses"),
        ([{"id": "a", "text": TEXT}, {"id": "a", "text": TEXT}], "courses"),
        ([{"id": "a", "text": ""}], "courses.0.text"),
        ([{"id": "", "text": TEXT}], "courses.0.id"),
        ([{"text": TEXT}], "courses.0.id"),
    ],
)
def test_bad_map_input_is_a_422_naming_the_field(
    client: TestClient, courses: list[dict[str, str]], field: str
) -> None:
    response = client.post("/v1/skills/map", json={"courses": courses})

    assert response.status_code == 422
    assert response.json()["message"].startswith(f"{field}: "), response.json()["message"]


# --- info ---------------------------------------------------------------------------------------


def test_info_reports_fingerprint_counts_models_and_limits(
    client: TestClient, tiny_bi_encoder: Path
) -> None:
    response = client.get("/v1/info")

    assert response.status_code == 200
    info = response.json()
    assert info["store"]["skills"] == 300 + 23  # the ESCO slice and the GRETA facets
    assert info["store"]["count"] > 300 + 23  # passages: the ESCO skills in the default views
    assert info["store"]["taxonomies"] == {"ESCO": 300, "GRETA": 23}
    assert info["store"]["distance"] == "cosine"
    assert info["store"]["fingerprint"]["model"] == str(tiny_bi_encoder.resolve())
    assert info["models"]["reranker"] is not None
    assert info["limits"]["max_map_courses"] == MAX_MAP_COURSES
    assert info["feedback"] == {"accepted": 0, "rejected": 0}


def test_info_describes_the_store_as_the_info_command_does(
    client: TestClient, store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from langchain_course_skills.cli import main

    status = main(["info", "--db", str(store_dir), "--json"])
    [described] = json.loads(capsys.readouterr().out)["collections"]

    assert status == 0
    assert client.get("/v1/info").json()["store"] == described
    assert set(described["passages"]) == {"label", "alt", "description"}  # the default views


# --- feedback -----------------------------------------------------------------------------------


def test_feedback_is_stored_with_the_store_label_and_the_latest_verdict_counts(
    client: TestClient,
) -> None:
    first = client.post("/v1/feedback", json={"text": TEXT, "uri": ESCO_URI, "verdict": "accepted"})
    client.post("/v1/feedback", json={"text": TEXT, "uri": ESCO_URI, "verdict": "rejected"})

    verdicts = client.post("/v1/feedback/verdicts", json={"text": f"  {TEXT}\n"})
    info = client.get("/v1/info").json()

    assert first.status_code == 201
    assert first.json()["label"] == "manage musical staff"
    assert first.json()["taxonomy"] == "ESCO"
    assert verdicts.json()["verdicts"] == {ESCO_URI: "rejected"}
    assert info["feedback"] == {"accepted": 0, "rejected": 1}


def test_results_carry_verdicts_and_leave_rejected_skills_out(client: TestClient) -> None:
    before = _search(client, rerank=False, top_n=5).json()["skills"]
    rejected, accepted = before[0]["uri"], before[1]["uri"]
    for uri, verdict in ((rejected, "rejected"), (accepted, "accepted")):
        body = {"text": TEXT, "uri": uri, "verdict": verdict, "curator": "ana"}
        assert client.post("/v1/feedback", json=body).status_code == 201

    after = _search(client, rerank=False, top_n=5).json()["skills"]
    kept = _search(client, rerank=False, top_n=5, keep_rejected=True).json()["skills"]
    mapped = client.post(
        "/v1/skills/map",
        json={"courses": [{"id": "c1", "text": TEXT}, {"id": "c2", "text": "bake bread"}]},
    ).json()["courses"]

    assert [s["uri"] for s in after] == [s["uri"] for s in before[1:]]  # the rest, in order
    assert [s["rank"] for s in after] == [1, 2, 3, 4]
    assert [s.get("verdict") for s in after] == ["accepted", None, None, None]
    assert [(s["uri"], s.get("verdict")) for s in kept[:2]] == [
        (rejected, "rejected"),
        (accepted, "accepted"),
    ]
    assert rejected not in {s["uri"] for s in mapped[0]["skills"]}
    assert all("verdict" not in s for s in mapped[1]["skills"])  # another text: no verdicts


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": TEXT, "uri": "urn:not-in-store", "verdict": "accepted"}, "uri"),
        ({"text": TEXT, "uri": ESCO_URI, "verdict": "maybe"}, "verdict"),
        ({"text": TEXT, "uri": ESCO_URI}, "verdict"),
        ({"text": "", "uri": ESCO_URI, "verdict": "accepted"}, "text"),
        ({"text": TEXT, "uri": ESCO_URI, "verdict": "accepted", "similarity": 2}, "similarity"),
        (
            {"text": TEXT, "uri": ESCO_URI, "verdict": "accepted", "evidence": {"start": -1}},
            "evidence.start",
        ),
        ({"text": TEXT, "uri": ESCO_URI, "verdict": "accepted", "course_id": ""}, "course_id"),
    ],
)
def test_bad_feedback_is_a_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    response = client.post("/v1/feedback", json=body)

    assert response.status_code == 422
    assert response.json()["message"].startswith(f"{field}: "), response.json()["message"]


# --- security -----------------------------------------------------------------------------------

GUARDED = [  # /healthz answers without the token: tests/test_service_ops.py
    ("GET", "/readyz"),
    ("GET", "/v1/info"),
    ("POST", "/v1/skills/search"),
    ("POST", "/v1/skills/map"),
    ("POST", "/v1/feedback"),
    ("POST", "/v1/feedback/verdicts"),
    ("GET", "/docs"),
    ("GET", "/openapi.json"),
]


@pytest.fixture()
def guarded(service: SkillService, tmp_path: Path) -> Iterator[TestClient]:
    with serving(lambda: service, tmp_path / "f.sqlite3", token=SecretStr(TOKEN)) as client:
        yield client


@pytest.mark.parametrize(("method", "path"), GUARDED)
@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}", TOKEN])
def test_with_a_token_every_endpoint_refuses_requests_without_it(
    guarded: TestClient, method: str, path: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = guarded.request(method, path, headers=headers, json={"text": TEXT})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert TOKEN not in response.text


@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_with_the_token_every_endpoint_answers(guarded: TestClient, method: str, path: str) -> None:
    body = {
        "/v1/skills/search": {"text": TEXT},
        "/v1/skills/map": {"courses": [{"id": "a", "text": TEXT}]},
        "/v1/feedback": {"text": TEXT, "uri": ESCO_URI, "verdict": "accepted"},
        "/v1/feedback/verdicts": {"text": TEXT},
    }.get(path)

    response = guarded.request(
        method, path, headers={"Authorization": f"Bearer {TOKEN}"}, json=body
    )

    assert response.status_code in (200, 201), response.text


def test_the_page_files_need_no_token(guarded: TestClient) -> None:
    page, script = guarded.get("/"), guarded.get("/static/app.js")

    assert page.status_code == 200
    assert script.status_code == 200


def test_the_token_never_reaches_the_logs(
    guarded: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    guarded.get("/v1/info", headers={"Authorization": f"Bearer {TOKEN}x"})
    guarded.get("/v1/info", headers={"Authorization": f"Bearer {TOKEN}"})

    assert caplog.records  # something was logged, and none of it is the token
    assert TOKEN not in caplog.text


def test_a_loopback_service_refuses_foreign_host_headers(
    service: SkillService, tmp_path: Path
) -> None:
    hosts = ["127.0.0.1", "localhost"]
    with serving(lambda: service, tmp_path / "f.sqlite3", allowed_hosts=hosts) as client:
        foreign = client.get("/healthz", headers={"Host": "attacker.example:8000"})
        local = client.get("/healthz", headers={"Host": "127.0.0.1:8000"})

    assert foreign.status_code == 400
    assert local.status_code == 200


# --- load shedding ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GatedService(SkillService):
    """The real service, whose searches wait for a gate: to hold the queue full."""

    gate: threading.Event = field(default_factory=threading.Event)

    def find(self, texts: list[str], **options: Any) -> list[list[dict[str, Any]]]:
        self.gate.wait(60)
        return super().find(texts, **options)


async def test_requests_beyond_the_queue_get_503_with_retry_after(
    service: SkillService, tmp_path: Path
) -> None:
    gated = GatedService(service.retriever, service.store_info, service.models, threading.Event())
    app = create_app(
        lambda: gated,
        ServiceSettings(feedback_path=tmp_path / "f.sqlite3", max_concurrency=1, max_queue=2),
    )
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app):
        assert await asyncio.to_thread(app.state.loader.wait, 60)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            body = {"text": TEXT, "rerank": False, "top_n": 3}
            held = [
                asyncio.create_task(http.post("/v1/skills/search", json=body)) for _ in range(3)
            ]
            while app.state.admission.admitted < 3:
                await asyncio.sleep(0)  # let the three reach the queue (no timing involved)
            shed = await http.post("/v1/skills/search", json=body)
            gated.gate.set()
            answered = await asyncio.gather(*held)

    assert shed.status_code == 503
    assert int(shed.headers["Retry-After"]) >= 1
    assert "busy" in shed.json()["detail"]
    assert [r.status_code for r in answered] == [200, 200, 200]


async def test_admission_refuses_beyond_concurrency_plus_queue() -> None:
    admission = Admission(concurrency=1, queue=1)
    gate = threading.Event()
    running = [asyncio.create_task(admission.run(lambda: gate.wait(60))) for _ in range(2)]
    while admission.admitted < 2:
        await asyncio.sleep(0)

    with pytest.raises(Overloaded) as refused:
        await admission.run(lambda: True)
    gate.set()
    results = await asyncio.gather(*running)

    assert refused.value.retry_after >= 1
    assert results == [True, True]
    assert admission.admitted == 0


# --- page and docs ------------------------------------------------------------------------------


def test_the_page_is_served_with_a_strict_content_security_policy(client: TestClient) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert '<script src="/static/app.js"' in response.text
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("name", ["index.html", "app.js", "style.css"])
def test_the_page_loads_nothing_from_elsewhere(client: TestClient, name: str) -> None:
    text = client.get("/" if name == "index.html" else f"/static/{name}").text

    assert "cdn" not in text.lower()
    assert 'src="http' not in text and "url(http" not in text and "import " not in text


def test_openapi_docs_are_served_without_a_cdn(client: TestClient) -> None:
    docs, schema = client.get("/docs"), client.get("/openapi.json").json()

    assert docs.status_code == 200
    assert "/static-offline-docs/swagger-ui-bundle.js" in docs.text
    assert "cdn.jsdelivr" not in docs.text
    assert {"/v1/skills/search", "/v1/skills/map", "/v1/info", "/v1/feedback"} <= set(
        schema["paths"]
    )
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
