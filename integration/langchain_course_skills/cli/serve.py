"""`course-skills serve`: the HTTP service and the curator page, on uvicorn."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
import textwrap
from typing import TYPE_CHECKING, Any

from langchain_course_skills.cli import MODEL_OPTIONS, PARAMETER_OPTIONS
from langchain_course_skills.cli._common import (
    HelpFormatter,
    add_fusion_options,
    add_model_options,
    add_reranker_option,
    add_store_options,
    check_models,
    choose_model,
    positive_int,
    require_collection,
    retriever_spec,
)
from langchain_course_skills.errors import CourseSkillsError, ModelLoadError
from langchain_course_skills.vocabulary import SERVE_OPTIONS_ENV, SERVE_TOKEN_ENV

# Heavy modules (torch, chromadb, FastAPI) are imported inside the functions that need them,
# so that `course-skills --help` answers at once.
if TYPE_CHECKING:
    from fastapi import FastAPI

    from langchain_course_skills.service.skills import SkillService
    from langchain_course_skills.service.workers import WorkerOptions

DEFAULT_PORT = 8000
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1"]  # Host headers a loopback service accepts
_SERVE_EXTRA = 'pip install "langchain-course-skills[serve]"'
SKIP_RERANKER = {"cross-encoder": "pass --no-rerank"}

EPILOG = f"""\
examples:
  course-skills serve --db skills-db                  # http://127.0.0.1:{DEFAULT_PORT}/
  course-skills serve --db skills-db --no-rerank --port 8080
  COURSE_SKILLS_TOKEN=$(openssl rand -hex 24) course-skills serve \\
      --chroma-url http://localhost:8001 --host 0.0.0.0 --workers 4

The curator page is at /, the API's documentation at /docs. Models load after the start:
/healthz answers at once, /readyz answers 200 once the models are loaded and the store checked.
A token ({SERVE_TOKEN_ENV} or --token) is then required on every endpoint but the page's own
files and /healthz (which says only ok). /metrics serves Prometheus metrics of each worker.
With --db the service runs one worker (the embedded store belongs to one process); for
several, serve the store with `chroma run` and pass --chroma-url.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `serve` subcommand."""
    parser = subparsers.add_parser(
        "serve",
        help="serve skill search over HTTP, with a curator page",
        description=textwrap.fill(
            "Serve the skill store over HTTP (FastAPI on uvicorn): search and map course texts, "
            "record curators' verdicts (exported with `course-skills feedback export`), and a "
            "curator page at /. Needs the serve extra: " + _SERVE_EXTRA
        ),
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    group = parser.add_argument_group("service")
    group.add_argument("--host", default="127.0.0.1", help="address to bind")
    group.add_argument("--port", type=positive_int, default=DEFAULT_PORT, help="port to bind")
    group.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="N",
        help="worker processes, each with its own models (several need --chroma-url)",
    )
    group.add_argument(
        "--token",
        metavar="TOKEN",
        help="bearer token required on every endpoint but the page and /healthz (default: "
        f"${SERVE_TOKEN_ENV}; the environment variable keeps it out of the process list)",
    )
    group.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback --host without a token (a proxy in front authenticates)",
    )
    group.add_argument(
        "--feedback",
        metavar="PATH",
        help="SQLite file of the curators' verdicts (default: beside --db, "
        "DIR-feedback.sqlite3; with --chroma-url ./course-skills-feedback.sqlite3)",
    )
    group.add_argument(
        "--max-concurrency",
        type=positive_int,
        default=1,
        metavar="N",
        help="searches run at once per worker",
    )
    group.add_argument(
        "--max-queue",
        type=positive_int,
        default=16,
        metavar="N",
        help="searches waiting per worker; more get 503 with Retry-After",
    )
    group.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="torch threads per worker (default: torch's, one per core); with several workers "
        "give each cores / workers, and 1 on a machine busy with other work",
    )
    group.add_argument(
        "--no-rerank", action="store_true", help="run without the cross-encoder (first stage only)"
    )
    add_fusion_options(group)  # -k, --top-n and the taxonomies come with each request
    add_reranker_option(parser, used="unless --no-rerank")
    add_store_options(parser)
    add_model_options(parser, from_store=True)
    parser.set_defaults(handler=run, skip_model=SKIP_RERANKER)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def check_bind(host: str, token: str | None, insecure: bool) -> None:
    """Refuse a non-loopback address without a token, unless `insecure`."""
    if token or insecure or _is_loopback(host):
        return
    msg = (
        f"refusing to serve on {host} without a token: anyone who reaches it could search and "
        f"write verdicts. Set {SERVE_TOKEN_ENV} (or --token), bind 127.0.0.1, or pass --insecure "
        "if a proxy in front of the service authenticates"
    )
    raise CourseSkillsError(msg)


def allowed_hosts(host: str, token: str | None) -> list[str] | None:
    """Host headers to accept: on loopback without a token only loopback names.

    Without it, a web page could reach the service through DNS rebinding (a name of the
    attacker's that resolves to 127.0.0.1) and read results or write verdicts.
    """
    if token or not _is_loopback(host):
        return None
    return sorted({*LOOPBACK_HOSTS, host})


def worker_count(args: argparse.Namespace) -> int:
    """Return --workers, or 1 with a note saying why when the store is embedded."""
    if args.workers > 1 and not args.chroma_url:
        print(
            f"note: running 1 worker, not {args.workers}: the embedded store (--db) is a folder "
            "that one process opens (Chroma's local store is not safe across processes). For "
            "several workers, serve it with `chroma run --path DIR` and pass --chroma-url.",
            file=sys.stderr,
        )
        return 1
    return int(args.workers)


def _uvicorn() -> Any:
    try:
        import fastapi  # noqa: F401 - checked here, used by the workers
        import fastapi_offline  # noqa: F401
        import uvicorn
    except ImportError as exc:
        msg = f"`course-skills serve` needs {exc.name}, which is not installed; {_SERVE_EXTRA}"
        raise CourseSkillsError(msg) from exc
    return uvicorn


def _load(options: WorkerOptions) -> SkillService:
    """Load the service in a worker; its errors name the command line's options."""
    from langchain_course_skills.service.skills import load_service

    try:
        return load_service(options.spec, threads=options.threads)
    except ModelLoadError as exc:  # said in the worker's log and by /readyz, in CLI terms
        skip = SKIP_RERANKER.get(exc.kind)
        raise CourseSkillsError(exc.explain(MODEL_OPTIONS[exc.kind], skip=skip)) from exc
    except CourseSkillsError as exc:
        raise CourseSkillsError(exc.explain_for(PARAMETER_OPTIONS)) from exc


def _log_to_stderr() -> None:
    # The service's own lines (ready, failed to start) beside uvicorn's, in every worker.
    package = logging.getLogger("langchain_course_skills")
    if not package.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        package.addHandler(handler)
        package.propagate = False
    package.setLevel(logging.INFO)


def worker_app() -> FastAPI:
    """Build the app in a uvicorn worker from the options `run` left in the environment."""
    from transformers.utils import logging as transformers_logging

    from langchain_course_skills.service.app import create_app
    from langchain_course_skills.service.workers import WorkerOptions

    options = WorkerOptions.from_environment()
    _log_to_stderr()
    transformers_logging.disable_progress_bar()  # the log says when the models are loaded
    return create_app(lambda: _load(options), options.settings)


def run(args: argparse.Namespace) -> int:
    """Check the options, then serve until stopped."""
    from langchain_course_skills.feedback import FeedbackStore, default_feedback_path

    uvicorn = _uvicorn()
    token = args.token or os.environ.get(SERVE_TOKEN_ENV) or None
    check_bind(args.host, token, args.insecure)
    workers = worker_count(args)
    collection = require_collection(args)  # a wrong --db fails now, not in every worker
    choose_model(args, collection)
    check_models(args, reranker=not args.no_rerank)  # a missing model too
    if args.feedback is None:
        args.feedback = str(default_feedback_path(None if args.chroma_url else args.db))
    FeedbackStore(args.feedback)  # a bad path fails now too
    from langchain_course_skills.service.app import ServiceSettings
    from langchain_course_skills.service.workers import WorkerOptions

    options = WorkerOptions(
        spec=retriever_spec(args),
        settings=ServiceSettings(
            feedback_path=args.feedback,
            max_concurrency=args.max_concurrency,
            max_queue=args.max_queue,
            allowed_hosts=allowed_hosts(args.host, token),
        ),
        threads=args.threads,
    )
    os.environ[SERVE_OPTIONS_ENV] = options.to_environment()
    if token:
        os.environ[SERVE_TOKEN_ENV] = token
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"serving http://{shown}:{args.port}/ (API docs at /docs) with {workers} worker(s); "
        f"loading the models, /readyz answers 200 when ready; verdicts go to {args.feedback}",
        file=sys.stderr,
    )
    uvicorn.run(
        f"{__name__}:worker_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=workers,
        log_level="info",
        timeout_graceful_shutdown=10,
    )
    return 0
