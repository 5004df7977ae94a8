"""Options and helpers shared by the subcommands: where the store is, which models to load."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_course_skills.errors import CourseSkillsError, StoreMismatchError, StoreNotFoundError
from langchain_course_skills.fusion import (
    DEFAULT_FUSION,
    DEFAULT_VIEW_FUSION,
    FUSIONS,
    VIEW_FUSIONS,
)
from langchain_course_skills.models.loading import locate_model, model_identity
from langchain_course_skills.models.options import BACKENDS, PRECISIONS
from langchain_course_skills.store._chroma_http import (
    DEFAULT_TIMEOUT,
    connect_chroma_server,
    redact_url,
    url_secrets,
)
from langchain_course_skills.store._storage import SQLITE_FILE, open_embedded_client
from langchain_course_skills.vocabulary import (
    DEFAULT_COLLECTION,
    DEFAULT_EMBEDDING_MODEL,
    DEFAULT_K,
    DEFAULT_RERANKER_MODEL,
    DEFAULT_TOP_N,
    skill_hits,
)

# Heavy modules (torch, chromadb, langchain-chroma) are imported inside the functions that
# need them, so that `--help`, `--version` and argument errors answer at once.
if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from langchain_core.documents import Document

    from langchain_course_skills.cross_encoders import SkillCrossEncoder
    from langchain_course_skills.embeddings import E5Embeddings
    from langchain_course_skills.feedback import FeedbackStore
    from langchain_course_skills.retrievers import SkillRetriever
    from langchain_course_skills.spec import RetrieverSpec

DEFAULT_DB = "skills-db"  # embedded Chroma folder, relative to the working directory
DEFAULT_PRECISION = "auto"  # the library's default, the same for every command
DEFAULT_BACKEND = "auto"  # likewise
_LABEL_WIDTH = 60  # characters of a label shown in a result table
_SERVER_CLIENT = "_server_client"  # where a command's parsed options keep its server client


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show defaults and keep the examples in epilogs as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        # "(default: None)" says nothing; options without a default explain themselves.
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def view_kinds(text: str) -> tuple[str, ...]:
    """Parse a comma-separated view set such as "label,alt" (argparse `type=`)."""
    from langchain_course_skills.views import check_views

    try:
        return check_views(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def positive_int(text: str) -> int:
    """Parse a positive integer option value (argparse `type=`)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        msg = f"expected a positive integer, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def unit_score(text: str) -> float:
    """Parse a score threshold in [0, 1] (argparse `type=`)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        msg = f"expected a score between 0 and 1, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def positive_float(text: str) -> float:
    """Parse a positive number option value (argparse `type=`)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        msg = f"expected a positive number, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_store_options(
    parser: argparse.ArgumentParser,
    *,
    db_default: str | None = DEFAULT_DB,
    db_help: str = "folder of the embedded Chroma store",
    collection_default: str | None = DEFAULT_COLLECTION,
    collection_help: str = "Chroma collection name",
) -> None:
    """Add --db, --chroma-url, --chroma-token and --collection."""
    group = parser.add_argument_group("store")
    group.add_argument("--db", default=db_default, metavar="DIR", help=db_help)
    group.add_argument(
        "--chroma-url",
        metavar="URL",
        help="use a Chroma server instead of --db, e.g. http://localhost:8000",
    )
    group.add_argument("--chroma-token", metavar="TOKEN", help="auth token for the Chroma server")
    group.add_argument(
        "--chroma-timeout",
        type=positive_float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="how long to wait for the Chroma server to answer a request before giving up",
    )
    group.add_argument(
        "--collection", default=collection_default, metavar="NAME", help=collection_help
    )


def add_verdict_options(parser: argparse.ArgumentParser) -> None:
    """Add --feedback and --keep-rejected: the curators' verdicts that results apply."""
    group = parser.add_argument_group("curators' verdicts")
    group.add_argument(
        "--feedback",
        metavar="PATH",
        help="the verdicts given on the `serve` page: results carry each skill's verdict for "
        "the course text and leave rejected skills out (default: DIR-feedback.sqlite3 beside "
        "--db, where it exists)",
    )
    group.add_argument(
        "--keep-rejected",
        action="store_true",
        help="keep the skills a curator rejected for the course, marked rejected",
    )


def open_feedback(args: argparse.Namespace) -> FeedbackStore | None:
    """Return the verdicts named by --feedback, or the default file if it exists, else None."""
    from langchain_course_skills.feedback import FeedbackStore, default_feedback_path

    if args.feedback is not None:
        return FeedbackStore(args.feedback, create=False)
    path = default_feedback_path(None if args.chroma_url else args.db)
    return FeedbackStore(path, create=False) if path.is_file() else None


def add_model_options(parser: argparse.ArgumentParser, *, from_store: bool = False) -> None:
    """Add --model, --device, --precision, --backend and --batch-size for the embedding model.

    Args:
        parser: The subcommand's parser.
        from_store: Leave --model at None, meaning the model the store was built with
            (resolved by `choose_model`); otherwise it defaults to the package's model.
    """
    group = parser.add_argument_group("model")
    help_text = "embedding model: Hugging Face Hub id or local folder"
    if from_store:
        help_text += (
            " (default: the model the collection was built with; for a new collection "
            f"{DEFAULT_EMBEDDING_MODEL})"
        )
    group.add_argument(
        "--model",
        default=None if from_store else DEFAULT_EMBEDDING_MODEL,
        metavar="MODEL",
        help=help_text,
    )
    group.add_argument(
        "--device", default="auto", metavar="DEVICE", help="auto, cpu, cuda, cuda:1, mps"
    )
    group.add_argument(
        "--precision",
        default=DEFAULT_PRECISION,
        choices=PRECISIONS,
        help="number format; auto: fp32, the only one measured quality-neutral "
        "(docs/benchmarks.md); bf16 is 2-3x faster on CPUs with AVX512-BF16 or AMX",
    )
    add_backend_option(group)
    group.add_argument(
        "--batch-size",
        type=positive_int,
        metavar="N",
        help="texts per forward pass (default: 256 on a CUDA GPU, 32 elsewhere)",
    )


def add_backend_option(group: Any) -> None:
    """Add --backend (what computes both models) to an argument group."""
    group.add_argument(
        "--backend",
        default=DEFAULT_BACKEND,
        choices=BACKENDS,
        help="what computes the models: torch, onednn (torch with oneDNN's fp32 linear "
        "layers), onnx (ONNX Runtime, fp32) or openvino (CPU; the onnx/openvino extra; "
        "exported once, beside the model); auto: OpenVINO, else ONNX Runtime, where installed "
        "(both fp32 and quality-neutral, about 2x torch), else onednn on AMD CPUs with "
        "AVX-512, else torch",
    )


def add_result_options(parser: argparse.ArgumentParser, *, top_n_help: str) -> Any:
    """Add the retriever's options (see `retriever_spec`): -k, --rerank, -n, ...; return the group.

    With `add_reranker_option`, `add_store_options` and `add_model_options` they cover every
    field of `RetrieverSpec` (tests/unit_tests/test_retriever_spec.py checks that each face has
    each).
    """
    group = parser.add_argument_group("results")
    group.add_argument(
        "-k", type=positive_int, default=DEFAULT_K, help="candidates by cosine similarity"
    )
    group.add_argument("--rerank", action="store_true", help="re-rank with the cross-encoder")
    group.add_argument(
        "-n", "--top-n", type=positive_int, default=DEFAULT_TOP_N, metavar="N", help=top_n_help
    )
    group.add_argument(
        "--taxonomy",
        action="append",
        metavar="NAME",
        help="only skills of this taxonomy (repeatable), e.g. ESCO or GRETA",
    )
    group.add_argument(
        "--min-score",
        type=unit_score,
        metavar="SCORE",
        help="drop skills scoring below this: relevance with --rerank, else cosine similarity",
    )
    add_fusion_options(group)
    return group


def add_fusion_options(group: Any) -> None:
    """Add --fusion and --view-fusion (how passages and views combine) to an argument group."""
    group.add_argument(
        "--fusion",
        choices=FUSIONS,
        default=DEFAULT_FUSION,
        help="how the passages of a long course combine per skill",
    )
    group.add_argument(
        "--view-fusion",
        choices=VIEW_FUSIONS,
        default=DEFAULT_VIEW_FUSION,
        help="how a skill's views (label, alternative labels, description) combine",
    )


def retriever_spec(args: argparse.Namespace) -> RetrieverSpec:
    """Describe the retriever the options ask for (the one way every command builds it)."""
    from langchain_course_skills.spec import RetrieverSpec

    rerank = getattr(args, "rerank", not getattr(args, "no_rerank", False))
    results = {
        name: getattr(args, option)
        for name, option in (
            ("k", "k"),
            ("top_n", "top_n"),
            ("taxonomies", "taxonomy"),
            ("min_score", "min_score"),
        )
        if hasattr(args, option)  # `serve` takes these per request
    }
    return RetrieverSpec(
        model=args.model,
        reranker=args.reranker if rerank else None,
        device=args.device,
        precision=args.precision,
        backend=args.backend,
        batch_size=args.batch_size,
        persist_directory=None if args.chroma_url else args.db,
        chroma_url=args.chroma_url,
        chroma_token=args.chroma_token,
        chroma_timeout=args.chroma_timeout,
        collection=args.collection,
        fusion=args.fusion,
        view_fusion=args.view_fusion,
        **results,
    )


def build_retriever(args: argparse.Namespace) -> SkillRetriever:
    """Load the models the options name and return the retriever over the checked store.

    With --chroma-url it reuses the command's one server client (`server_client`).
    """
    quiet_model_loading(args)
    client = server_client(args) if args.chroma_url else None
    return retriever_spec(args).build(client=client)


def check_sizes(args: argparse.Namespace) -> None:
    """Reject --top-n larger than -k before anything is loaded."""
    if args.rerank and args.top_n > args.k:
        msg = (
            f"--top-n ({args.top_n}) is larger than -k ({args.k}); the reranker can only keep "
            "up to k candidates, so raise -k or lower --top-n"
        )
        raise CourseSkillsError(msg)


def add_reranker_option(parser: argparse.ArgumentParser, *, used: str = "with --rerank") -> None:
    """Add --reranker (the cross-encoder model); `used` says when it is loaded."""
    parser.add_argument(
        "--reranker",
        default=DEFAULT_RERANKER_MODEL,
        metavar="MODEL",
        help=f"cross-encoder model, loaded {used}: Hugging Face Hub id or local folder",
    )


def store_location(args: argparse.Namespace) -> dict[str, Any]:
    """Return the `persist_directory=` or `client=` keyword for the store functions.

    With --chroma-url it is the command's one server client (see `server_client`).
    """
    if args.chroma_url:
        return {"client": server_client(args)}
    return {"persist_directory": args.db}


def store_name(args: argparse.Namespace) -> str:
    """Return how the command line names the store: `--db DIR` or `--chroma-url URL` (masked)."""
    return f"--chroma-url {redact_url(args.chroma_url)}" if args.chroma_url else f"--db {args.db}"


def secrets(args: argparse.Namespace) -> list[str]:
    """Return the secrets among the options (token, password in the URL), to mask in output."""
    return url_secrets(getattr(args, "chroma_url", None), getattr(args, "chroma_token", None))


def chroma_http_client(
    url: str, token: str | None = None, args: argparse.Namespace | None = None
) -> ClientAPI:
    """Connect to a Chroma server, or raise a `CourseSkillsError` that says how to start one."""
    timeout = getattr(args, "chroma_timeout", DEFAULT_TIMEOUT)
    return connect_chroma_server(url, token, timeout=timeout)


def server_client(args: argparse.Namespace) -> ClientAPI:
    """Return the command's client of --chroma-url: connected once, then passed down.

    Checking the store and then using it go through the same client, so a command greets
    the server once (one heartbeat), not once per step.
    """
    client: ClientAPI | None = getattr(args, _SERVER_CLIENT, None)
    if client is None:
        client = chroma_http_client(args.chroma_url, args.chroma_token, args)
        setattr(args, _SERVER_CLIENT, client)
    return client


def _embedded_client(db: str) -> ClientAPI | None:
    """Open the embedded store folder `db` to read, or return None if there is none."""
    path = Path(db).expanduser()
    if not path.exists():
        return None
    if not path.is_dir() or not (path / SQLITE_FILE).is_file():
        msg = (
            f"{db!r} exists but is not a skill store (no {SQLITE_FILE} inside); pass the folder "
            "that `course-skills index` built, or a new folder name to --db"
        )
        raise StoreNotFoundError(msg)
    return open_embedded_client(path, write=False)


def store_client(args: argparse.Namespace) -> ClientAPI | None:
    """Return a client of the store the options name; None if the embedded folder is missing."""
    if args.chroma_url:
        return server_client(args)
    return _embedded_client(args.db)


def find_collection(client: ClientAPI | None, name: str) -> Collection | None:
    """Return the collection `name`, or None if the store or the collection does not exist."""
    from langchain_course_skills.store import find_collection as find_store_collection

    return None if client is None else find_store_collection(client, name)


def collection_names(client: ClientAPI) -> list[str]:
    """Return the names of a store's collections, sorted."""
    return sorted(c.name for c in client.list_collections())


def require_client(args: argparse.Namespace) -> ClientAPI:
    """Return a client of an existing store, or raise `StoreNotFoundError` with how to build it."""
    client = store_client(args)
    if client is None:
        msg = (
            f"no skill store at {args.db!r}; build it first with "
            f"`course-skills index SOURCE --db {args.db}` (or pass the right --db)"
        )
        raise StoreNotFoundError(msg)
    return client


def require_collection(args: argparse.Namespace) -> Collection:
    """Return the collection the options name, or raise `StoreNotFoundError` saying how to build it.

    Runs before any model is loaded, so that a wrong --db fails in a second.
    """
    client = require_client(args)
    collection = find_collection(client, args.collection)
    if collection is None:
        names = collection_names(client)
        msg = (
            f"the store ({store_name(args)}) has no collection {args.collection!r} "
            f"(it has {names or 'none'}); build it with `course-skills index SOURCE "
            f"{store_name(args)} --collection {args.collection}`"
            + (" or pass --collection with one of those" if names else "")
        )
        raise StoreNotFoundError(msg)
    return collection


def stored_model(collection: Collection | None) -> str | None:
    """Return the embedding model a collection was built with, if it recorded one."""
    if collection is None:
        return None
    from langchain_course_skills.store import read_fingerprint

    model = read_fingerprint(collection).get("model")
    return str(model) if model else None


def choose_model(args: argparse.Namespace, collection: Collection | None) -> None:
    """Resolve `--model` left at its default to the store's model (else the package default).

    An explicit --model that differs from the store's raises `StoreMismatchError` before the
    model is loaded.
    """
    recorded = stored_model(collection)
    if args.model is None:
        args.model = recorded or DEFAULT_EMBEDDING_MODEL
        return
    if collection is not None and recorded and model_identity(args.model) != recorded:
        msg = (
            f"collection {collection.name!r} ({store_name(args)}) was built with model "
            f"{recorded!r}, not {args.model!r}; leave --model out (or pass --model {recorded}) "
            f"to use it, or index into another collection with `--collection NEW_NAME`"
        )
        raise StoreMismatchError(msg)


def quiet_model_loading(args: argparse.Namespace) -> None:
    """Hide transformers' per-model "Loading weights" bars; the CLI shows its own progress."""
    if not getattr(args, "verbose", False):
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()


def check_models(args: argparse.Namespace, *, reranker: bool) -> None:
    """Find the embedding model (and the reranker) before either is loaded.

    An unreachable Hub or a missing folder fails here within seconds, for both models, before
    minutes go into loading or indexing with the first.
    """
    locate_model(args.model, "embedding")
    if reranker:
        locate_model(args.reranker, "cross-encoder")


def make_embeddings(args: argparse.Namespace, model: str | None = None) -> E5Embeddings:
    """Load the embedding model `model` (default: --model) with the model options."""
    from langchain_course_skills.embeddings import E5Embeddings

    quiet_model_loading(args)
    return E5Embeddings(
        model_name=args.model if model is None else model,
        device=args.device,
        precision=args.precision,
        backend=args.backend,
        batch_size=args.batch_size,
    )


def make_cross_encoder(args: argparse.Namespace) -> SkillCrossEncoder:
    """Load the cross-encoder named by --reranker."""
    from langchain_course_skills.cross_encoders import SkillCrossEncoder

    quiet_model_loading(args)
    return SkillCrossEncoder(
        model_name=args.reranker,
        device=args.device,
        precision=args.precision,
        backend=args.backend,
    )


def result_records(documents: list[Document]) -> list[dict[str, Any]]:
    """Return one JSON-ready record per skill, with stable keys, best first."""
    return [hit.to_record() for hit in skill_hits(documents)]


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def print_results(records: list[dict[str, Any]], *, as_json: bool) -> None:
    """Print ranked skill records (`result_records`) as a readable table or as a JSON list."""
    if as_json:
        print(json.dumps(records, ensure_ascii=False, indent=2))
        return
    fused = any("fused_score" in r for r in records)  # a text read in several passages
    judged = any("verdict" in r for r in records)  # verdicts applied
    header = (
        "rank",
        "label",
        "taxonomy",
        "similarity",
        "relevance",
        *("fused",) * fused,
        *("verdict",) * judged,
        "URI",
    )
    rows = [
        (
            str(r["rank"]),
            _shorten(r["label"], _LABEL_WIDTH),
            r["taxonomy"],
            _number(r["similarity"]),
            _number(r["relevance_score"]),
            *(_number(r.get("fused_score")),) * fused,
            *(r.get("verdict") or "-",) * judged,
            r["uri"],
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    numbers = ("rank", "similarity", "relevance", "fused")  # they line up on the right
    right = {i for i, name in enumerate(header) if name in numbers}
    for row in [header, *rows]:
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
