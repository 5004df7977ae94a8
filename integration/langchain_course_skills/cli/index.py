"""`course-skills index`: load taxonomies and build or update the skill store."""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import TYPE_CHECKING

from langchain_course_skills.cli._common import (
    HelpFormatter,
    add_model_options,
    add_store_options,
    check_models,
    choose_model,
    find_collection,
    make_embeddings,
    store_client,
    store_location,
    store_name,
)
from langchain_course_skills.errors import TaxonomyError
from langchain_course_skills.loaders import (
    DEFAULT_ESCO_TEMPLATE,
    DEFAULT_GRETA_TEMPLATE,
    ESCO_ID,
    ESCO_LABEL,
    KINDS,
    read_taxonomy,
)

if TYPE_CHECKING:
    from langchain_core.documents import Document


EPILOG = """\
examples:
  # the official ESCO download (any language), with the default model
  course-skills index skills_de.csv --db skills-db

  # a German label-only ESCO file, mapped onto ESCO's preferredLabel
  course-skills index skills_de_labels.csv --label-column preferredLabel_de

  # ESCO and GRETA in one store; --prune drops skills that left both files
  course-skills index skills_de.csv greta_kompetenzmodell.json --prune

  # your own list: CSV or JSONL with a label and an id column
  course-skills index digcomp.csv --taxonomy table --taxonomy-name DigComp \\
      --label-column name --id-column code --passage-template "{label}: {description}"

  # a local model folder (offline), on a Chroma server
  course-skills index skills_de.csv --model ./e5-course-skills \\
      --chroma-url http://localhost:8000

Running it again on unchanged files embeds nothing and changes nothing; after Ctrl-C, running
it again completes the store without duplicates.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `index` subcommand."""
    parser = subparsers.add_parser(
        "index",
        help="build or update the skill store from taxonomy files",
        description=textwrap.fill(
            "Load one or more taxonomies (ESCO skills_<lang>.csv, the GRETA JSON, or your own "
            "CSV/JSONL) and build or update the skill store in one go. The kind of each file "
            "is detected: ESCO by its conceptUri/preferredLabel header, GRETA by a .json file "
            'with "Kompetenzmodell", anything else as a table.'
        ),
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("sources", nargs="+", metavar="SOURCE", help="taxonomy files")
    group = parser.add_argument_group("taxonomy")
    group.add_argument(
        "--taxonomy", choices=("auto", *KINDS), default="auto", help="the kind of every SOURCE"
    )
    group.add_argument(
        "--taxonomy-name",
        metavar="NAME",
        help='metadata["taxonomy"] of the skills (default: ESCO, GRETA, or a table\'s file name)',
    )
    group.add_argument(
        "--label-column",
        metavar="COLUMN",
        help=f"column with the skill's name (default: {ESCO_LABEL} for ESCO, label for tables); "
        "for ESCO label-only files, e.g. preferredLabel_de",
    )
    group.add_argument(
        "--id-column",
        metavar="COLUMN",
        help=f"column with the skill's unique id (default: {ESCO_ID} for ESCO, id for tables)",
    )
    group.add_argument(
        "--passage-template",
        metavar="TEMPLATE",
        help="how each skill is written for the model, with column names as fields "
        f"(default: {DEFAULT_ESCO_TEMPLATE} for ESCO, {DEFAULT_GRETA_TEMPLATE} otherwise), "
        'e.g. "{preferredLabel}: {description}"',
    )
    group.add_argument(
        "--prune",
        action="store_true",
        help="delete stored skills that are in none of the SOURCEs",
    )
    add_store_options(parser)
    add_model_options(parser, from_store=True)
    parser.set_defaults(
        handler=run, parameter_options={"kind": "--taxonomy", "taxonomy": "--taxonomy-name"}
    )


def load_sources(args: argparse.Namespace) -> list[Document]:
    """Load every SOURCE, checking that ids are unique across them."""
    documents: list[Document] = []
    origin: dict[str, str] = {}
    used: set[str] = set()
    options = (args.label_column, args.id_column)
    for source in args.sources:
        taxonomy = read_taxonomy(source, args.taxonomy)
        loaded = taxonomy.documents(
            taxonomy=args.taxonomy_name,
            label_column=args.label_column,
            id_column=args.id_column,
            passage_template=args.passage_template,
        )
        used.update(column for column in options if column and taxonomy.reads_column(column))
        name = taxonomy.path.name
        for doc in loaded:
            doc_id = str(doc.id)
            if doc_id in origin:
                msg = (
                    f"skill id {doc_id!r} is in both {origin[doc_id]} and {name}; index "
                    "them into different collections (--collection) or remove the duplicate"
                )
                raise TaxonomyError(msg)
            origin[doc_id] = name
        print(f"{name}: {len(loaded)} skills ({taxonomy.kind})")
        documents.extend(loaded)
    for option, column in (("--label-column", args.label_column), ("--id-column", args.id_column)):
        if column and column not in used:
            msg = f"{option} {column!r} is a column of none of the SOURCE files; check its spelling"
            raise TaxonomyError(msg)
    return documents


def run(args: argparse.Namespace) -> int:
    """Index the sources and print what changed."""
    from langchain_course_skills.store import sync_skill_store

    documents = load_sources(args)  # bad files fail before any model is loaded
    existing = find_collection(store_client(args), args.collection)
    choose_model(args, existing)
    check_models(args, reranker=False)
    embeddings = make_embeddings(args)
    report = sync_skill_store(
        documents,
        embeddings,
        **store_location(args),
        collection_name=args.collection,
        prune=args.prune,
    )
    total = report.total
    print(
        f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.removed} removed in {report.seconds:.1f} s; collection {args.collection!r} "
        f"({store_name(args)}) holds {total} skills"
    )
    others = total - len(documents)
    if others > 0 and not args.prune:
        print(
            f"{others} stored skills are in none of these sources; add --prune to remove them",
            file=sys.stderr,
        )
    return 0
