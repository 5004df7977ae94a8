"""The operations endpoints: /healthz without a token, /metrics, /v1/courses (TestClient).

Real models (the tiny bi-encoder), a real embedded Chroma store of the 23 GRETA facets, a real
SQLite feedback file.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import chromadb
import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from langchain_course_skills import SkillRetriever, build_skill_store, load_greta, open_skill_store
from langchain_course_skills.embeddings import E5Embeddings
from langchain_course_skills.service.admission import Admission
from langchain_course_skills.service.app import ServiceSettings, create_app
from langchain_course_skills.service.body_limit import BodyLimit
from langchain_course_skills.service.metrics import LATENCY_BUCKETS_S, Metrics
from langchain_course_skills.service.schemas import CATALOGUE_PATH, MAX_COURSES_PAGE
from langchain_course_skills.service.skills import SkillService
from langchain_course_skills.store import describe_collection
from tests.conftest import GRETA
from tests.unit_tests.test_service import GatedService

TEXT = "Lernziele einer Weiterbildung formulieren und mit den Teilnehmenden erarbeiten"
TOKEN = "s3cret-token-for-tests-0123456789"
URI = "GRETA/LerninhalteUndZiele"  # a GRETA facet of the store
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# One sample line of the text format: name, optional {label="value",...}, a number.
SAMPLE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?P<labels>\{(?:[a-zA-Z_]\w*="(?:[^"\\]|\\.)*",?)*\})? '
    r"(?P<value>-?\d+(?:\.\d+)?(?:e[+-]?\d+)?|[+-]Inf|NaN)$"
)
COMMENT = re.compile(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$")


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, tiny_embeddings: E5Embeddings
) -> SkillService:
    """The service over an embedded store of the GRETA facets, without a reranker."""
    db = tmp_path_factory.mktemp("service-ops") / "skills-db"
    build_skill_store(load_greta(GRETA), tiny_embeddings, persist_directory=db, show_progress=False)
    collection = chromadb.PersistentClient(path=str(db)).get_collection("skills")
    return SkillService(
        retriever=SkillRetriever(store=open_skill_store(tiny_embeddings, persist_directory=db)),
        store_info=describe_collection(collection),
        models={
            "embedding": tiny_embeddings.model_name,
            "reranker": None,
            "device": "cpu",
            "precision": "fp32",
        },
    )


@contextmanager
def serving(
    load: Callable[[], SkillService], feedback: Path, **settings: Any
) -> Iterator[TestClient]:
    app = create_app(load, ServiceSettings(feedback_path=feedback, **settings))
    with TestClient(app) as client:
        assert app.state.loader.wait(120)
        yield client


@pytest.fixture()
def client(service: SkillService, tmp_path: Path) -> Iterator[TestClient]:
    with serving(lambda: service, tmp_path / "feedback.sqlite3") as client:
        yield client


@pytest.fixture()
def guarded(service: SkillService, tmp_path: Path) -> Iterator[TestClient]:
    with serving(lambda: service, tmp_path / "f.sqlite3", token=SecretStr(TOKEN)) as client:
        yield client


def _scrape(client: TestClient, headers: dict[str, str] | None = None) -> dict[str, float]:
    """Return every sample of /metrics as {'name{labels}': value}, checking each line's format."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, float] = {}
    for line in response.text.splitlines():
        if line.startswith("#"):
            assert COMMENT.match(line), line
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample of the text format: {line!r}"
        samples[match["name"] + (match["labels"] or "")] = float(match["value"])
    return samples


def _requests(samples: dict[str, float], route: str, status: int) -> float:
    key = f'course_skills_http_requests_total{{route="{route}",status="{status}"}}'
    return samples.get(key, 0)


def _verdict(client: TestClient, text: str, verdict: str, **extra: Any) -> httpx.Response:
    body = {"text": text, "uri": URI, "verdict": verdict, **extra}
    return client.post("/v1/feedback", json=body, headers=AUTH)


# --- health without the token -------------------------------------------------------------------


def test_healthz_answers_without_the_token_and_says_only_ok(guarded: TestClient) -> None:
    response = guarded.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "detail": None}  # no store, model or count


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/v1/courses"), ("GET", "/v1/info")],
)
def test_with_a_token_other_endpoints_still_refuse_requests_without_it(
    guarded: TestClient, method: str, path: str
) -> None:
    response = guarded.request(method, path)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("path", ["/readyz", "/metrics", "/v1/courses"])
def test_with_the_token_readyz_metrics_and_courses_answer(guarded: TestClient, path: str) -> None:
    assert guarded.get(path, headers=AUTH).status_code == 200


# --- metrics ------------------------------------------------------------------------------------


def test_every_metrics_line_is_in_the_text_format(client: TestClient) -> None:
    client.get("/healthz")

    samples = _scrape(client)

    assert "course_skills_admission_running" in samples
    assert 'course_skills_verdicts_recorded_total{verdict="accepted"}' in samples


def test_request_counts_grow_by_route_and_status(client: TestClient) -> None:
    before = _scrape(client)
    client.get("/healthz")
    client.get("/healthz")
    client.post("/v1/skills/search", json={"text": TEXT, "top_n": 3})
    client.post("/v1/skills/search", json={"text": ""})
    client.get("/no/such/path")

    after = _scrape(client)

    assert _requests(after, "/healthz", 200) - _requests(before, "/healthz", 200) == 2
    assert (
        _requests(after, "/v1/skills/search", 200) - _requests(before, "/v1/skills/search", 200)
        == 1
    )
    assert (
        _requests(after, "/v1/skills/search", 422) - _requests(before, "/v1/skills/search", 422)
        == 1
    )
    assert _requests(after, "unmatched", 404) - _requests(before, "unmatched", 404) == 1
    assert not any("/no/such/path" in key for key in after)  # paths are not label values


def test_refused_requests_are_counted_under_their_route(guarded: TestClient) -> None:
    guarded.get("/v1/info")  # no token: 401 from the middleware, before routing

    samples = _scrape(guarded, AUTH)

    assert _requests(samples, "/v1/info", 401) == 1


def test_latency_buckets_are_cumulative_and_end_with_the_count(client: TestClient) -> None:
    for _ in range(3):
        client.post("/v1/skills/search", json={"text": TEXT, "top_n": 3})

    samples = _scrape(client)

    name = "course_skills_http_request_duration_seconds"
    route = 'route="/v1/skills/search"'
    bounds = [repr(bound) for bound in LATENCY_BUCKETS_S] + ["+Inf"]
    buckets = [samples[f'{name}_bucket{{{route},le="{bound}"}}'] for bound in bounds]
    assert buckets == sorted(buckets)  # each bucket holds all the smaller ones
    assert buckets[-1] == samples[f"{name}_count{{{route}}}"] == 3
    assert samples[f"{name}_sum{{{route}}}"] > 0


def test_a_latency_on_a_bucket_bound_is_counted_in_that_bucket() -> None:
    metrics = Metrics(buckets=(0.1, 1.0))
    for seconds in (0.1, 0.5, 1.0, 7.0):
        metrics.observe("/x", 200, seconds)

    lines = metrics.render(Admission(1, 0)).splitlines()

    # le is inclusive: 0.1 is in the first bucket, 0.5 and 1.0 in the second, 7.0 only in +Inf.
    assert 'course_skills_http_request_duration_seconds_bucket{route="/x",le="0.1"} 1' in lines
    assert 'course_skills_http_request_duration_seconds_bucket{route="/x",le="1.0"} 3' in lines
    assert 'course_skills_http_request_duration_seconds_bucket{route="/x",le="+Inf"} 4' in lines


def test_verdicts_recorded_are_counted_by_verdict(client: TestClient) -> None:
    before = _scrape(client)
    assert _verdict(client, TEXT, "accepted").status_code == 201
    assert _verdict(client, TEXT, "rejected").status_code == 201
    assert _verdict(client, "another course", "accepted").status_code == 201
    assert _verdict(client, TEXT, "accepted", uri="urn:not-in-store").status_code == 422

    after = _scrape(client)

    key = 'course_skills_verdicts_recorded_total{{verdict="{}"}}'
    assert after[key.format("accepted")] - before[key.format("accepted")] == 2
    assert after[key.format("rejected")] - before[key.format("rejected")] == 1


def test_the_admission_limits_are_reported(service: SkillService, tmp_path: Path) -> None:
    with serving(lambda: service, tmp_path / "f.sqlite3", max_concurrency=2, max_queue=7) as client:
        samples = _scrape(client)

    assert samples["course_skills_admission_max_running"] == 2
    assert samples["course_skills_admission_max_waiting"] == 7
    assert samples["course_skills_admission_running"] == 0
    assert samples["course_skills_admission_waiting"] == 0
    assert samples["course_skills_admission_refused_total"] == 0


async def test_the_admission_queue_is_reported_while_it_is_full(
    service: SkillService, tmp_path: Path
) -> None:
    gated = GatedService(service.retriever, service.store_info, service.models, threading.Event())
    settings = ServiceSettings(feedback_path=tmp_path / "f.sqlite3", max_concurrency=1, max_queue=1)
    app = create_app(lambda: gated, settings)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app):
        assert await asyncio.to_thread(app.state.loader.wait, 60)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            body = {"text": TEXT, "top_n": 3}
            held = [
                asyncio.create_task(http.post("/v1/skills/search", json=body)) for _ in range(2)
            ]
            while app.state.admission.admitted < 2:
                await asyncio.sleep(0)  # let both reach the queue (no timing involved)
            shed = await http.post("/v1/skills/search", json=body)
            full = (await http.get("/metrics")).text.splitlines()
            gated.gate.set()
            await asyncio.gather(*held)

    assert shed.status_code == 503
    # One search runs, one waits, the third was refused.
    assert "course_skills_admission_running 1" in full
    assert "course_skills_admission_waiting 1" in full
    assert "course_skills_admission_refused_total 1" in full


# --- courses ------------------------------------------------------------------------------------


def test_courses_of_an_empty_store_are_an_empty_last_page(client: TestClient) -> None:
    response = client.get("/v1/courses")

    assert response.status_code == 200
    assert response.json() == {"courses": [], "total": 0, "next_offset": None}


def test_courses_pages_walk_every_course_exactly_once(client: TestClient) -> None:
    texts = [f"course number {i}: {TEXT}" for i in range(7)]
    for i, text in enumerate(texts):
        _verdict(client, text, "accepted", course_id=f"K-{i}")
    _verdict(client, texts[0], "rejected")  # the latest verdict counts: K-0 is now rejected

    seen: list[dict[str, Any]] = []
    offset: int | None = 0
    pages = 0
    while offset is not None:
        page = client.get("/v1/courses", params={"limit": 3, "offset": offset}).json()
        assert page["total"] == 7
        seen += page["courses"]
        offset = page["next_offset"]
        pages += 1

    assert pages == 3  # 7 courses by 3: 3 + 3 + 1
    assert sorted(course["course_id"] for course in seen) == [f"K-{i}" for i in range(7)]
    assert len({course["text_sha256"] for course in seen}) == 7
    order = [(course["first_seen"], course["text_sha256"]) for course in seen]
    assert order == sorted(order)  # oldest first, ties by hash
    first = next(course for course in seen if course["course_id"] == "K-0")
    assert (first["accepted"], first["rejected"]) == (0, 1)
    assert all((c["accepted"], c["rejected"]) == (1, 0) for c in seen if c is not first)


def test_courses_default_to_50_a_page(client: TestClient) -> None:
    _verdict(client, TEXT, "accepted")

    page = client.get("/v1/courses").json()

    assert (len(page["courses"]), page["total"], page["next_offset"]) == (1, 1, None)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": 0}, "query.limit: Input should be greater than or equal to 1"),
        (
            {"limit": MAX_COURSES_PAGE + 1},
            f"query.limit: Input should be less than or equal to {MAX_COURSES_PAGE}",
        ),
        ({"limit": "many"}, "query.limit: Input should be a valid integer"),
        ({"offset": -1}, "query.offset: Input should be greater than or equal to 0"),
        ({"limt": 10}, "query.limt: Extra inputs are not permitted"),
    ],
)
def test_bad_courses_paging_is_a_422_naming_the_parameter(
    client: TestClient, params: dict[str, Any], message: str
) -> None:
    response = client.get("/v1/courses", params=params)

    assert response.status_code == 422
    assert response.json()["message"].startswith(message), response.json()["message"]


def test_the_new_endpoints_are_in_the_openapi_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    assert {"/metrics", "/v1/courses"} <= set(paths)
    assert {p["name"] for p in paths["/v1/courses"]["get"]["parameters"]} == {"limit", "offset"}


async def test_the_body_limit_is_per_path_for_declared_and_chunked_bodies() -> None:
    async def app(scope: dict, receive: object, send: object) -> None:
        body = b""
        while True:
            message = await receive()  # type: ignore[operator]
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": str(len(body)).encode()})  # type: ignore[operator]

    limited = BodyLimit(app, limit=10, path_limits={CATALOGUE_PATH: 100})

    async def call(path: str, size: int, declared: bool) -> tuple[int, bytes]:
        chunks = [b"x" * 8 for _ in range(size // 8)]
        headers = [(b"content-length", str(size).encode())] if declared else []
        sent: list[dict] = []

        async def receive() -> dict:
            chunk = chunks.pop(0) if chunks else b""
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

        async def send(message: dict) -> None:
            sent.append(message)

        await limited({"type": "http", "path": path, "headers": headers}, receive, send)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

    for declared in (True, False):
        assert await call("/v1/skills/search", 8, declared) == (200, b"8")
        assert (await call("/v1/skills/search", 16, declared))[0] == 413
        assert await call(CATALOGUE_PATH, 96, declared) == (200, b"96")
        status, body = await call(CATALOGUE_PATH, 104, declared)
        assert status == 413
        assert "catalogue upload is larger than 100 bytes" in json.loads(body)["detail"]
