"""`course-skills index`: load taxonomies and build or update the skill store."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
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
    view_kinds,
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
from langchain_course_skills.views import DEFAULT_VIEWS, SINGLE_VIEW

if TYPE_CHECKING:
    from langchain_core.documents import Document


EPILOG = """\
examples:
  # the official ESCO download (any language), with the default model; each skill is stored
  # as its label, every alternative label and "label: description" (docs/views.md)
  course-skills index skills_de.csv --db skills-db

  # one passage per skill (as before views): about 8x fewer passages to embed for ESCO
  course-skills index skills_de.csv --db skills-db-labels --views label

  # a German label-only ESCO file, mapped onto ESCO's preferredLabel
  course-skills index skills_de_labels.csv --label-column preferredLabel_de

  # ESCO and GRETA in one store; --prune drops skills that left both files
  course-skills index skills_de.csv greta_kompetenzmodell.json --prune

  # your own list: CSV or JSONL with a label and an id column
  course-skills index digcomp.csv --taxonomy table --taxonomy-name DigComp \\
      --label-column name --id-column code --passage-template "{label}: {description}"

  # plus the German labels of the same skills; results are fused per skill
  course-skills index skills_en.csv --language de=skills_de_labels.csv

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
    group.add_argument(
        "--views",
        type=view_kinds,
        metavar="KINDS",
        help="how each skill is stored, comma-separated: label (its text from the template), "
        "alt (each alternative label), description (label: description); default: the "
        f"collection's own, for a new one {','.join(DEFAULT_VIEWS)} (about 8x the passages "
        f"of ESCO skills, +5 points MRR@10; docs/views.md); --views {','.join(SINGLE_VIEW)} "
        "stores one passage per skill",
    )
    group.add_argument(
        "--language",
        action="append",
        type=_language,
        metavar="LANG=FILE",
        help="also store the views of FILE, the same skills (same ids) in language LANG, e.g. "
        "de=skills_de_labels.csv; repeatable. Adding one to an existing store embeds only "
        "its passages",
    )
    add_store_options(parser)
    add_model_options(parser, from_store=True)
    parser.set_defaults(
        handler=run, parameter_options={"kind": "--taxonomy", "taxonomy": "--taxonomy-name"}
    )


def _language(text: str) -> tuple[str, Path]:
    code, sep, file = text.partition("=")
    if not sep or not code.strip() or not file.strip() or ":" in code or "#" in code:
        msg = f"expected LANG=FILE, e.g. de=skills_de_labels.csv, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return code.strip(), Path(file.strip()).expanduser()


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


def load_languages(args: argparse.Namespace) -> dict[str, list[Document]]:
    """Load every --language file (labels by the file's own preferredLabel_* column)."""
    translations: dict[str, list[Document]] = {}
    for code, file in args.language or []:
        if code in translations:
            msg = f"--language {code} is given twice; give each language one file"
            raise TaxonomyError(msg)
        taxonomy = read_taxonomy(file, args.taxonomy)
        translations[code] = taxonomy.documents(
            taxonomy=args.taxonomy_name, label_column=args.label_column, id_column=args.id_column
        )
        print(f"{file.name}: {len(translations[code])} skills ({taxonomy.kind}, language {code})")
    return translations


def run(args: argparse.Namespace) -> int:
    """Index the sources and print what changed."""
    from langchain_course_skills.store import sync_skill_store

    documents = load_sources(args)  # bad files fail before any model is loaded
    translations = load_languages(args)
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
        views=args.views,  # None: the collection's own, for a new one the default
        translations=translations,
    )
    total = report.total
    given = report.added + report.updated + report.unchanged
    unit = "skills" if given == len(documents) else "passages"  # several views per skill
    views = ",".join(report.views)
    shown = "" if unit == "skills" else f" of {len(documents)} skills, views {views}"
    print(
        f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.removed} removed in {report.seconds:.1f} s; collection {args.collection!r} "
        f"({store_name(args)}) holds {total} {unit}{shown}"
    )
    others = total - given
    if others > 0 and not args.prune:
        print(
            f"{others} stored {unit} are in none of these sources; add --prune to remove them",
            file=sys.stderr,
        )
    return 0
