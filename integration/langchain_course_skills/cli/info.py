"""`course-skills info`: what a skill store holds and how it was built."""

from __future__ import annotations

import argparse
import json
import textwrap
from typing import TYPE_CHECKING, Any

from langchain_course_skills.cli._common import (
    HelpFormatter,
    add_store_options,
    collection_names,
    require_client,
    require_collection,
    store_name,
)

if TYPE_CHECKING:
    pass

# Fingerprint keys in the order they are shown, with their labels.
_FIELDS = (
    ("model", "model"),
    ("dimension", "dimension"),
    ("embeddings", "embeddings class"),
    ("query_prefix", "query prefix"),
    ("passage_prefix", "passage prefix"),
    ("passage_template", "passage template"),
    ("views", "views"),
    ("languages", "languages"),
    ("version", "package version"),
)
_HNSW_PREFIX = "hnsw_"  # fingerprint keys of the HNSW settings

EPILOG = """\
examples:
  course-skills info --db skills-db
  course-skills info --chroma-url http://localhost:8000 --collection skills
  course-skills info --json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `info` subcommand."""
    parser = subparsers.add_parser(
        "info",
        help="show the collections of a skill store and how they were built",
        description=textwrap.fill(
            "List the collections of a skill store with their number of skills per taxonomy, "
            "their distance, and the fingerprint recorded when they were built (model, "
            "dimension, prefixes, passage template, package version, HNSW settings)."
        ),
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    add_store_options(parser, collection_default=None, collection_help="show only this collection")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(handler=run)


def _print(info: dict[str, Any]) -> None:
    fingerprint = info["fingerprint"]
    taxonomies = ", ".join(f"{name} {count}" for name, count in info["taxonomies"].items())
    print(f"collection {info['collection']!r}: {info['skills']} skills ({taxonomies or 'empty'})")
    if "passages" in info:
        shown = ", ".join(f"{view} {count}" for view, count in info["passages"].items())
        print(f"  {'passages':<18}{info['count']} ({shown})")
    print(f"  {'distance':<18}{info['distance']}")
    if not fingerprint:
        print("  (no fingerprint: not built by course-skills)")
    for key, label in _FIELDS:
        if key in fingerprint and (fingerprint[key] or key != "languages"):  # none: not shown
            value = fingerprint[key]
            shown = repr(value) if key.endswith("prefix") else value
            print(f"  {label:<18}{shown}")
    hnsw = {
        k[len(_HNSW_PREFIX) :]: v
        for k, v in sorted(fingerprint.items())
        if k.startswith(_HNSW_PREFIX)
    }
    if hnsw:
        print(f"  {'hnsw':<18}" + ", ".join(f"{k}={v}" for k, v in hnsw.items()))


def run(args: argparse.Namespace) -> int:
    """Print the store's collections."""
    from langchain_course_skills.store import describe_collection

    if args.collection is not None:
        collections = [require_collection(args)]
    else:
        client = require_client(args)
        collections = [
            client.get_collection(name, embedding_function=None)
            for name in collection_names(client)
        ]
    infos = [describe_collection(c) for c in collections]
    if args.json:
        report = {"store": store_name(args), "collections": infos}
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0
    print(f"store {store_name(args)}: {len(infos)} collection(s)")
    for info in infos:
        _print(info)
    return 0
