"""The FastAPI application: skill search and mapping, feedback, health, and the curator page.

`create_app(load, settings)` returns the app; `load` builds the `SkillService` (models and a
verified store) and runs in a background thread at start, so `/healthz` answers at once and
`/readyz` answers 200 only once it has returned.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

from fastapi import FastAPI, Query, Request, Response, Security
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
from langchain_course_skills.service.metrics import CONTENT_TYPE, Metrics, RequestMetrics
from langchain_course_skills.service.schemas import (
    MAX_BODY_BYTES,
    CollectionInfo,
    CourseSkills,
    CoursesQuery,
    CoursesResponse,
    CourseSummary,
    ErrorResponse,
    FeedbackRequest,
    FeedbackResponse,
    Health,
    InfoResponse,
    Limits,
    MapRequest,
    MapResponse,
    ModelsInfo,
    SearchOptions,
    SearchRequest,
    SearchResponse,
    Skill,
    VerdictsRequest,
    VerdictsResponse,
)
from langchain_course_skills.service.skills import SkillService

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"  # the curator page: plain HTML, CSS and JS
LOADING_RETRY_AFTER_S = 5  # Retry-After while the models load
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
        msg = "the service runs without a reranker (started with --no-rerank); send rerank false"
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

    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
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
        """Store a curator's verdict on a (course text, skill) pair; on disk when answered."""
        skill = _service(request).skill(body.uri)
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
    _add_metrics(app, app.state.admission, metrics)
    return app
