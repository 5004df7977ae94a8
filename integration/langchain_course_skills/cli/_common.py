"""Options and helpers shared by the subcommands: where the store is, which models to load."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from langchain_course_skills.cross_encoders import DEFAULT_RERANKER_MODEL, SkillCrossEncoder
from langchain_course_skills.embeddings import DEFAULT_EMBEDDING_MODEL, E5Embeddings
from langchain_course_skills.errors import CourseSkillsError
from langchain_course_skills.store import DEFAULT_COLLECTION

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

DEFAULT_DB = "skills-db"  # embedded Chroma folder, relative to the working directory
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show defaults and keep the examples in epilogs as written."""


def add_store_options(parser: argparse.ArgumentParser) -> None:
    """Add --db, --chroma-url, --chroma-token and --collection."""
    group = parser.add_argument_group("store")
    group.add_argument("--db", default=DEFAULT_DB, help="folder of the embedded Chroma store")
    group.add_argument(
        "--chroma-url",
        help="use a Chroma server instead of --db, e.g. http://localhost:8000",
    )
    group.add_argument("--chroma-token", help="auth token for the Chroma server")
    group.add_argument("--collection", default=DEFAULT_COLLECTION, help="Chroma collection name")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Add --model, --device, --precision and --batch-size for the embedding model."""
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        default=DEFAULT_EMBEDDING_MODEL,
        help="embedding model: Hugging Face Hub id or local folder",
    )
    group.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    group.add_argument("--precision", default="auto", choices=PRECISIONS, help="model precision")
    group.add_argument("--batch-size", type=int, default=32, help="texts per forward pass")


def add_reranker_option(parser: argparse.ArgumentParser) -> None:
    """Add --reranker (the cross-encoder model)."""
    parser.add_argument(
        "--reranker",
        default=DEFAULT_RERANKER_MODEL,
        help="cross-encoder model for --rerank: Hugging Face Hub id or local folder",
    )


def store_location(args: argparse.Namespace) -> dict[str, object]:
    """Return the `persist_directory=` or `client=` keyword for the store functions."""
    if args.chroma_url:
        return {"client": chroma_http_client(args.chroma_url, args.chroma_token)}
    return {"persist_directory": args.db}


def chroma_http_client(url: str, token: str | None = None) -> ClientAPI:
    """Connect to a Chroma server, or raise a `CourseSkillsError` that says how to start one."""
    import chromadb

    parsed = urlparse(url if "://" in url else f"http://{url}")
    if not parsed.hostname:
        msg = f"--chroma-url {url!r} is not a URL; use http://HOST:PORT"
        raise CourseSkillsError(msg)
    headers = {"Authorization": f"Bearer {token}"} if token else None
    port = parsed.port or (443 if parsed.scheme == "https" else 8000)
    try:
        return chromadb.HttpClient(
            host=parsed.hostname, port=port, ssl=parsed.scheme == "https", headers=headers
        )
    except Exception as exc:  # connection refused, DNS, auth: chromadb raises several kinds
        msg = (
            f"cannot reach the Chroma server at {url} ({exc}); start one with "
            f"`chroma run --path DIR --port {port}` or check --chroma-url and --chroma-token"
        )
        raise CourseSkillsError(msg) from exc


def make_embeddings(args: argparse.Namespace) -> E5Embeddings:
    """Load the embedding model named by the model options."""
    return E5Embeddings(
        model_name=args.model,
        device=args.device,
        precision=args.precision,
        batch_size=args.batch_size,
    )


def make_cross_encoder(args: argparse.Namespace) -> SkillCrossEncoder:
    """Load the cross-encoder named by --reranker."""
    return SkillCrossEncoder(
        model_name=args.reranker, device=args.device, precision=args.precision
    )
