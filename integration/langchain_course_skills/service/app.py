"""The FastAPI application: skill search and mapping, feedback, health, and the curator page.

`create_app(load, settings)` returns the app; `load` builds the `SkillService` (models and a
verified store) and runs in a background thread at start, so `/healthz` answers at once and
`/readyz` answers 200 only once it has returned.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

from fastapi import FastAPI, HTTPException, Query, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.middleware.trustedhost import TrustedHostMiddleware

from langchain_course_skills._version import package_version
from langchain_course_skills.errors import CourseSkillsError
from langchain_course_skills.feedback import FeedbackStore, text_sha256
from langchain_course_skills.service.admission import Admission, Overloaded
from langchain_course_skills.service.body_limit import BodyLimit
from langchain_course_skills.service.labels import SkillIndex, StoredSkill, store_version
from langchain_course_skills.service.metrics import CONTENT_TYPE, Metrics, RequestMetrics
from langchain_course_skills.service.review import (
    CatalogueSummary,
    ReviewCourse,
    ReviewError,
    ReviewStore,
    read_catalogue,
)
from langchain_course_skills.service.schemas import (
    CATALOGUE_PATH,
    MAX_BODY_BYTES,
    MAX_CATALOGUE_BYTES,
    MAX_TEXT_CHARS,
    CollectionInfo,
    CourseSkills,
    CoursesQuery,
    CoursesResponse,
    CourseSummary,
    DescribeRequest,
    DescribeResponse,
    ErrorResponse,
    FeedbackRequest,
    FeedbackResponse,
    Health,
    InfoResponse,
    Limits,
    LookupQuery,
    LookupResponse,
    MapRequest,
    MapResponse,
    ModelsInfo,
    ReviewCatalogue,
    ReviewCourseDetail,
    ReviewCoursesQuery,
    ReviewCoursesResponse,
    ReviewCourseSummary,
    ReviewDone,
    ReviewDoneResponse,
    ReviewSkill,
    ReviewUpload,
    SearchOptions,
    SearchRequest,
    SearchResponse,
    Skill,
    StoreSkill,
    VerdictsRequest,
    VerdictsResponse,
)
from langchain_course_skills.service.skills import SkillService
from langchain_course_skills.verdicts import apply_verdicts

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"  # the curator page: plain HTML, CSS and JS
LOADING_RETRY_AFTER_S = 5  # Retry-After while the models load
LABELS_CHECK_S = 10.0  # how often the skill lookup checks whether the store changed
_PUBLIC_PREFIXES = ("/static/", "/static-offline-docs/")  # files without data, same everywhere
_PUBLIC_PATHS = ("/", "/healthz")  # the page, and liveness for probes that send no token
_PAGE_HEADERS = {
    # The page loads nothing from elsewhere and may not be framed.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_BEARER = Security(HTTPBearer(auto_error=False))  # documents the scheme; the middleware checks
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "missing or wrong bearer token"},
    422: {"model": ErrorResponse, "description": "bad input; `message` names each field"},
    503: {"model": ErrorResponse, "description": "loading, failed, or busy (see Retry-After)"},
}
_REVIEW_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    404: {"model": ErrorResponse, "description": "no catalogue held, or no such course in it"},
}
FINGERPRINT_DIGITS = 16  # hex digits of the store fingerprint's SHA-256 kept with a verdict


class ServiceSettings(BaseModel):
    """How the service runs (everything but the models and the store, which `load` brings)."""

    model_config = ConfigDict(extra="forbid")

    feedback_path: Path
    """The SQLite file of the curators' verdicts."""
    token: SecretStr | None = None
    """Bearer token required on every endpoint but the page's files and /healthz; None: open."""
    max_concurrency: int = Field(default=1, gt=0)
    """Searches run at once in one worker process."""
    max_queue: int = Field(default=16, ge=0)
    """Searches waiting in one worker; more get 503 with Retry-After."""
    allowed_hosts: list[str] | None = None
    """Accepted Host headers (against DNS rebinding on loopback); None accepts any."""


class _Loader:
    """Loads the `SkillService` in a background thread and says how far it got."""

    def __init__(self, load: Callable[[], SkillService]) -> None:
        self._load = load
        self.ready = threading.Event()
        self.service: SkillService | None = None
        self.error: str | None = None

    def start(self) -> None:
        threading.Thread(target=self._run, name="course-skills-load", daemon=True).start()

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            self.service = self._load()
        except CourseSkillsError as exc:
            self.error = " ".join(str(exc).split())
            logger.error("the service cannot start: %s", self.error)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            logger.exception("the service cannot start")
        else:
            logger.info("models loaded and store verified in %.1f s", time.perf_counter() - started)
        finally:
            self.ready.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until loading finished (or failed); return whether it finished in time."""
        return self.ready.wait(timeout)


class _Labels:
    """The store's skills by label, read when first asked for and again when the store changed.

    Whether it changed is checked at most every `LABELS_CHECK_S` seconds (two small store
    requests), so that a lookup per keystroke does not read the store each time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._index: SkillIndex | None = None
        self._version: tuple[str, int] | None = None
        self._checked = 0.0

    def index(self, service: SkillService) -> SkillIndex:
        with self._lock:
            store = service.retriever.store
            now = time.monotonic()
            if self._index is None or now - self._checked >= LABELS_CHECK_S:
                version = store_version(store)
                if self._index is None or version != self._version:
                    self._index, self._version = SkillIndex.from_store(store), version
                self._checked = now
            return self._index


def store_fingerprint(service: SkillService) -> str:
    """A short digest of the store's fingerprint, kept with each verdict to say what proposed it."""
    fingerprint = json.dumps(service.store_info.get("fingerprint", {}), sort_keys=True)
    return hashlib.sha256(fingerprint.encode("utf-8")).hexdigest()[:FINGERPRINT_DIGITS]


def _store_skill(skill: StoredSkill) -> StoreSkill:
    return StoreSkill(
        uri=skill.uri,
        label=skill.label,
        taxonomy=skill.taxonomy,
        description=skill.description or None,
    )


class _Unavailable(Exception):
    def __init__(self, detail: str, retry_after: int | None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


def _service(request: Request) -> SkillService:
    loader: _Loader = request.app.state.loader
    if loader.service is not None:
        return loader.service
    if loader.error is not None:
        msg = f"the service failed to start: {loader.error}"
        raise _Unavailable(msg, None)
    msg = "the models are still loading; retry shortly"
    raise _Unavailable(msg, LOADING_RETRY_AFTER_S)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in loc[1:]] if loc and loc[0] == "body" else [str(p) for p in loc]
    return ".".join(parts) or "body"


def _validation_response(errors: list[dict[str, Any]]) -> JSONResponse:
    # Neither the input nor the pydantic context go back: a 20,000-character text, echoed
    # in every error, helps no one.
    detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors]
    message = "; ".join(f"{_field(e['loc'])}: {e['msg']}" for e in detail)
    return JSONResponse(status_code=422, content={"detail": detail, "message": message})


def _reject(field: str, msg: str) -> NoReturn:
    """Answer 422 for a field that is valid alone but not for this service (the same shape)."""
    error = RequestValidationError([{"loc": ("body", field), "msg": msg, "type": "value_error"}])
    raise error


def _rerank(service: SkillService, options: SearchOptions) -> bool:
    if options.rerank and not service.can_rerank:
        msg = "this service runs without a reranker (see /v1/info); send rerank false"
        _reject("rerank", msg)
    return service.can_rerank if options.rerank is None else options.rerank


def _check_taxonomies(service: SkillService, taxonomies: list[str] | None) -> None:
    unknown = sorted(set(taxonomies or ()) - set(service.taxonomies))
    if unknown:
        msg = f"the store has no skills of taxonomy {unknown}; it has {service.taxonomies}"
        _reject("taxonomies", msg)


def _authorized(request: Request, token: SecretStr) -> bool:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode("utf-8")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.encode("utf-8"), expected)


def _add_middleware(app: FastAPI, settings: ServiceSettings) -> None:
    token = settings.token

    @app.middleware("http")
    async def require_token(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        public = path in _PUBLIC_PATHS or path.startswith(_PUBLIC_PREFIXES)
        if token is not None and not public and not _authorized(request, token):
            return JSONResponse(
                status_code=401,
                content={
                    "detail": "missing or wrong bearer token; send the header "
                    "`Authorization: Bearer TOKEN` with the token the service was started with"
                },
                headers={"WWW-Authenticate": "Bearer"},
            )
        return await call_next(request)

    app.add_middleware(
        BodyLimit, limit=MAX_BODY_BYTES, path_limits={CATALOGUE_PATH: MAX_CATALOGUE_BYTES}
    )
    if settings.allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts)


def _add_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_response(list(exc.errors()))

    @app.exception_handler(_Unavailable)
    async def unavailable(request: Request, exc: _Unavailable) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return JSONResponse(status_code=503, content={"detail": exc.detail}, headers=headers)

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, exc: Overloaded) -> JSONResponse:
        return JSONResponse(
            status_code=503,
            content={"detail": str(exc)},
            headers={"Retry-After": str(exc.retry_after)},
        )


def _add_health(app: FastAPI) -> None:
    @app.get("/healthz", response_model=Health, tags=["health"], responses=_ERRORS)
    async def healthz() -> Health:
        """Alive: answers as soon as the process serves, models loaded or not; no token needed.

        It says nothing but `ok`: the store, the models and the counts are behind the token.
        """
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, tags=["health"], responses=_ERRORS)
    async def readyz(request: Request, response: Response) -> Health:
        """Ready: 200 once the models are loaded and the store verified, else 503."""
        loader: _Loader = request.app.state.loader
        if loader.service is not None:
            return Health(status="ready")
        response.status_code = 503
        if loader.error is not None:
            return Health(status="failed", detail=loader.error)
        response.headers["Retry-After"] = str(LOADING_RETRY_AFTER_S)
        return Health(status="loading", detail="the models are still loading")


def _add_skills(app: FastAPI, admission: Admission, feedback: FeedbackStore) -> None:
    async def _find(
        request: Request, options: SearchOptions, texts: list[str]
    ) -> tuple[list[list[dict[str, Any]]], bool, float]:
        """Search `texts` in the admission queue; return the records, rerank and milliseconds."""
        service = _service(request)
        rerank = _rerank(service, options)
        _check_taxonomies(service, options.taxonomies)
        started = time.perf_counter()
        found = await admission.run(
            lambda: service.find(
                texts,
                k=options.k,
                top_n=options.top_n,
                taxonomies=options.taxonomies,
                min_score=options.min_score,
                rerank=rerank,
                feedback=feedback,
                keep_rejected=options.keep_rejected,
            )
        )
        return found, rerank, round((time.perf_counter() - started) * 1000, 1)

    @app.post(
        "/v1/skills/search",
        response_model=SearchResponse,
        tags=["skills"],
        responses=_ERRORS,
        dependencies=[_BEARER],
    )
    async def search(body: SearchRequest, request: Request) -> SearchResponse:
        """The skills one course text teaches, as `course-skills search --json` finds them.

        Each skill carries its curators' latest `verdict` for this exact text; rejected skills
        are left out unless `keep_rejected`.
        """
        found, rerank, took_ms = await _find(request, body, [body.text])
        return SearchResponse(
            skills=[Skill.model_validate(record) for record in found[0]],
            reranked=rerank,
            took_ms=took_ms,
        )

    @app.post(
        "/v1/skills/map",
        response_model=MapResponse,
        tags=["skills"],
        responses=_ERRORS,
        dependencies=[_BEARER],
    )
    async def map_courses(body: MapRequest, request: Request) -> MapResponse:
        """The skills of up to 32 courses, searched as one batch."""
        texts = [course.text for course in body.courses]
        found, rerank, took_ms = await _find(request, body, texts)
        return MapResponse(
            courses=[
                CourseSkills(id=course.id, skills=[Skill.model_validate(r) for r in records])
                for course, records in zip(body.courses, found)
            ],
            reranked=rerank,
            took_ms=took_ms,
        )


def _add_feedback(app: FastAPI, feedback: FeedbackStore, metrics: Metrics) -> None:
    @app.post(
        "/v1/feedback",
        response_model=FeedbackResponse,
        status_code=201,
        tags=["feedback"],
        responses=_ERRORS,
        dependencies=[_BEARER],
    )
    def record_feedback(body: FeedbackRequest, request: Request) -> FeedbackResponse:
        """Store a curator's verdict on a (course text, skill) pair; on disk when answered.

        The service adds what proposed the skill: its embedding model, its reranker and its
        store's fingerprint digest.
        """
        service = _service(request)
        skill = service.skill(body.uri)
        if skill is None:
            _reject("uri", f"{body.uri!r} is not a skill of the store")
        evidence = body.evidence
        stored = feedback.record(
            text=body.text,
            uri=body.uri,
            label=str(skill.get("label", body.uri)),
            taxonomy=str(skill.get("taxonomy", "")),
            verdict=body.verdict,
            course_id=body.course_id,
            similarity=body.similarity,
            relevance_score=body.relevance_score,
            evidence=(evidence.start, evidence.end) if evidence is not None else None,
            curator=body.curator,
            model=str(service.models.get("embedding") or "") or None,
            reranker=str(service.models.get("reranker") or "") or None,
            store_fingerprint=store_fingerprint(service),
        )
        metrics.count_verdict(stored.verdict)
        return FeedbackResponse(
            id=stored.id,
            text_sha256=stored.text_sha256,
            uri=stored.uri,
            label=stored.label,
            taxonomy=stored.taxonomy,
            verdict=stored.verdict,
            created_at=stored.created_at,
            curator=stored.curator,
            model=stored.model,
            reranker=stored.reranker,
            store_fingerprint=stored.store_fingerprint,
        )

    @app.post(
        "/v1/feedback/verdicts",
        response_model=VerdictsResponse,
        tags=["feedback"],
        responses=_ERRORS,
        dependencies=[_BEARER],
    )
    def verdicts(body: VerdictsRequest) -> VerdictsResponse:
        """The latest verdict per skill for one course text (the page shows them on reload)."""
        found = feedback.verdicts(body.text)
        return VerdictsResponse(text_sha256=text_sha256(body.text), verdicts=found)


def _add_info(app: FastAPI, feedback: FeedbackStore, settings: ServiceSettings) -> None:
    @app.get(
        "/v1/info",
        response_model=InfoResponse,
        tags=["info"],
        responses=_ERRORS,
        dependencies=[_BEARER],
    )
    def info(request: Request) -> InfoResponse:
        """The store's fingerprint and counts, the models, the limits, the feedback so far."""
        service = _service(request)
        return InfoResponse(
            version=package_version(),
            store=CollectionInfo.model_validate(service.store_info),
            models=ModelsInfo.model_validate(service.models),
            limits=Limits(max_concurrency=settings.max_concurrency, max_queue=settings.max_queue),
            feedback=feedback.counts(),
        )


def _add_page(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=_PAGE_HEADERS)


def _add_courses(app: FastAPI, feedback: FeedbackStore) -> None:
    @app.get(
        "/v1/courses",
        response_model=CoursesResponse,
        tags=["feedback"],
        responses=_ERRORS,
        dependencies=[_BEARER],
    )
    def courses(query: Annotated[CoursesQuery, Query()]) -> CoursesResponse:
        """The courses curators gave verdicts on, oldest first, `limit` per page from `offset`."""
        total, rows = feedback.course_page(limit=query.limit, offset=query.offset)
        end = query.offset + len(rows)
        return CoursesResponse(
            courses=[
                CourseSummary(
                    text_sha256=digest,
                    course_id=course_id,
                    first_seen=first_seen,
                    accepted=accepted,
                    rejected=rejected,
                )
                for digest, course_id, first_seen, accepted, rejected in rows
            ],
            total=total,
            next_offset=end if rows and end < total else None,
        )


def _held(review: ReviewStore) -> CatalogueSummary:
    """The held catalogue, or a 404 that says how to upload one."""
    held = review.summary()
    if held is None:
        msg = (
            "no catalogue is held for review; upload one with PUT /v1/review/catalogue "
            "(or open it on the curator page)"
        )
        raise HTTPException(status_code=404, detail=msg)
    return held


def _course(review: ReviewStore, course_id: str) -> ReviewCourse:
    _held(review)
    course = review.course(course_id)
    if course is None:
        msg = (
            f"the catalogue under review has no course {course_id!r}; list its courses with "
            "GET /v1/review/courses"
        )
        raise HTTPException(status_code=404, detail=msg)
    return course


def _review_skills(
    course: ReviewCourse, feedback: FeedbackStore, index: SkillIndex
) -> list[ReviewSkill]:
    """The course's mapped skills with their latest verdicts and the store's descriptions."""
    verdicts = feedback.course_verdicts([course.text])[0]
    records = apply_verdicts(course.skills or [], verdicts, keep_rejected=True, keep_accepted=True)
    skills = []
    for record in records:
        stored = index.get(str(record["uri"]))
        verdict = verdicts.get(str(record["uri"]))
        skills.append(
            ReviewSkill.model_validate(
                {
                    **record,
                    "description": (stored.description or None) if stored else None,
                    "curator": verdict.curator if verdict else None,
                }
            )
        )
    return skills


def _add_review(
    app: FastAPI, feedback: FeedbackStore, review: ReviewStore, labels: _Labels
) -> None:
    guarded: dict[str, Any] = {
        "tags": ["review"],
        "responses": _REVIEW_ERRORS,
        "dependencies": [_BEARER],
    }

    @app.put(CATALOGUE_PATH, response_model=ReviewCatalogue, **guarded)
    def upload(body: ReviewUpload) -> ReviewCatalogue:
        """Hold a catalogue for review (and the `map` output of it), instead of the last one.

        Curators' done marks stay with courses whose id and text are unchanged.
        """
        name = body.name or "catalogue.jsonl"
        try:
            courses = read_catalogue(
                body.catalogue,
                body.mapped,
                text_columns=body.text_columns,
                name=name,
                max_text_chars=MAX_TEXT_CHARS,
            )
        except ReviewError as exc:
            _reject(exc.field, str(exc))
        held = review.replace(courses, name=name)
        return ReviewCatalogue(**vars(held))

    @app.get(CATALOGUE_PATH, response_model=ReviewCatalogue, **guarded)
    def catalogue() -> ReviewCatalogue:
        """The catalogue held for review: its name, when it came, how many courses."""
        return ReviewCatalogue(**vars(_held(review)))

    @app.get("/v1/review/courses", response_model=ReviewCoursesResponse, **guarded)
    def courses(query: Annotated[ReviewCoursesQuery, Query()]) -> ReviewCoursesResponse:
        """The held catalogue's courses, in catalogue order, with the review's progress.

        A course is reviewed once a curator marked it done (POST .../done); with `curator`,
        once that curator did.
        """
        _held(review)
        page = review.page(
            status=query.status,
            curator=query.curator,
            min_score=query.min_score,
            limit=query.limit,
            offset=query.offset,
        )
        verdicts = feedback.course_verdicts([row.text for row in page.rows])
        end = query.offset + len(page.rows)
        return ReviewCoursesResponse(
            courses=[
                ReviewCourseSummary(
                    id=row.id,
                    position=row.position,
                    reviewed=row.reviewed,
                    reviewed_by=row.reviewed_by,
                    skills=row.skills,
                    best_score=row.best_score,
                    accepted=sum(v.verdict == "accepted" for v in judged.values()),
                    rejected=sum(v.verdict == "rejected" for v in judged.values()),
                )
                for row, judged in zip(page.rows, verdicts)
            ],
            total=page.total,
            catalogue_courses=page.courses,
            reviewed=page.reviewed,
            next_offset=end if page.rows and end < page.total else None,
        )

    @app.get("/v1/review/courses/{course_id:path}", response_model=ReviewCourseDetail, **guarded)
    def course(course_id: str, request: Request) -> ReviewCourseDetail:
        """One course: its exact text, its skills as mapped with their verdicts, who finished it.

        Send its `id` and `text` with each verdict on it.
        """
        found = _course(review, course_id)
        index = labels.index(_service(request))
        return ReviewCourseDetail(
            id=found.id,
            position=found.position,
            text=found.text,
            text_sha256=found.text_sha256,
            mapped=found.skills is not None,
            skills=_review_skills(found, feedback, index),
            reviewed_by=review.reviewed_by(found),
        )

    @app.post(
        "/v1/review/courses/{course_id:path}/done", response_model=ReviewDoneResponse, **guarded
    )
    def done(course_id: str, body: ReviewDone) -> ReviewDoneResponse:
        """Mark a course reviewed by a curator (`done: false` takes the mark back)."""
        found = _course(review, course_id)
        return ReviewDoneResponse(
            id=found.id, reviewed_by=review.mark_done(found, body.curator, done=body.done)
        )

    @app.get(
        "/v1/skills/lookup",
        response_model=LookupResponse,
        tags=["skills"],
        responses=_ERRORS,
        dependencies=[_BEARER],
    )
    def lookup(query: Annotated[LookupQuery, Query()], request: Request) -> LookupResponse:
        """Skills of the store whose label holds every word of `q`: to add one the model missed."""
        index = labels.index(_service(request))
        return LookupResponse(
            skills=[_store_skill(skill) for skill in index.lookup(query.q, limit=query.limit)]
        )

    @app.post(
        "/v1/skills/describe",
        response_model=DescribeResponse,
        tags=["skills"],
        responses=_ERRORS,
        dependencies=[_BEARER],
    )
    def describe(body: DescribeRequest, request: Request) -> DescribeResponse:
        """The label, taxonomy and description of each skill named (the store's metadata)."""
        index = labels.index(_service(request))
        found = (index.get(uri) for uri in body.uris)
        return DescribeResponse(skills=[_store_skill(skill) for skill in found if skill])


def _add_metrics(app: FastAPI, admission: Admission, metrics: Metrics) -> None:
    """Serve /metrics; added last, so that its middleware is outermost and counts every answer."""
    app.add_middleware(RequestMetrics, metrics=metrics, routes=app.router.routes)

    @app.get(
        "/metrics",
        response_class=Response,
        tags=["health"],
        responses={200: {"content": {CONTENT_TYPE: {}}}, **_ERRORS},
        dependencies=[_BEARER],
    )
    async def prometheus() -> Response:
        """Prometheus metrics of the worker process that answers (text format 0.0.4)."""
        return Response(metrics.render(admission), media_type=CONTENT_TYPE)


def create_app(load: Callable[[], SkillService], settings: ServiceSettings) -> FastAPI:
    """Return the service's FastAPI app.

    Args:
        load: Builds the `SkillService` (loads the models, opens and verifies the store); it
            runs once, in a background thread, when the app starts.
        settings: Feedback file, token, queue limits, allowed hosts.

    Example:
        >>> app = create_app(lambda: SkillService(retriever, info, models),
        ...                  ServiceSettings(feedback_path="feedback.sqlite3"))
        >>> uvicorn.run(app)
    """
    from fastapi_offline import FastAPIOffline  # Swagger UI's files from the package, no CDN

    loader = _Loader(load)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loader.start()
        yield

    app = FastAPIOffline(
        title="course-skills",
        version=package_version(),
        description=(
            "Map course descriptions to taxonomy skills (ESCO, GRETA, your own) and collect "
            "curators' verdicts. The curator page is at `/`."
        ),
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.loader = loader
    feedback = FeedbackStore(settings.feedback_path)
    _add_middleware(app, settings)
    _add_handlers(app)
    _add_health(app)
    app.state.admission = Admission(settings.max_concurrency, settings.max_queue)
    _add_skills(app, app.state.admission, feedback)
    metrics = Metrics()
    _add_feedback(app, feedback, metrics)
    _add_info(app, feedback, settings)
    _add_page(app)
    _add_courses(app, feedback)
    _add_review(app, feedback, ReviewStore(settings.feedback_path), _Labels())
    _add_metrics(app, app.state.admission, metrics)
    return app
