"""`course-skills demo`: index the bundled sample taxonomy and rank skills for an example course."""

from __future__ import annotations

import argparse
import textwrap
from importlib import resources

from langchain_course_skills.cli._common import (
    HelpFormatter,
    add_model_options,
    add_reranker_option,
    add_store_options,
    choose_model,
    find_collection,
    make_cross_encoder,
    make_embeddings,
    positive_int,
    print_results,
    store_client,
    store_location,
    store_name,
)
from langchain_course_skills.compressors import DEFAULT_TOP_N, SkillReranker
from langchain_course_skills.errors import CourseSkillsError
from langchain_course_skills.loaders import load_esco_skills
from langchain_course_skills.retrievers import DEFAULT_K, SkillRetriever
from langchain_course_skills.store import sync_skill_store

DEMO_DB = "course-skills-demo-db"  # embedded store folder of the demo
DEMO_COLLECTION = "course-skills-demo"  # never the "skills" collection of a real store
SAMPLE_FILE = "sample_skills_de.csv"  # in the package's data folder, ESCO column layout
SAMPLE_TAXONOMY = "sample"  # metadata["taxonomy"] of the sample skills
EXAMPLE_COURSE = (
    "WordPress Grundlagen: In diesem Kurs lernen Sie, wie Sie mit WordPress eine eigene Website "
    "erstellen und pflegen. Sie planen die Struktur Ihrer Seiten mit einem Wireframe, "
    "installieren Themes und Plugins und verwalten Inhalte im Content-Management-System."
)

EPILOG = """\
examples:
  course-skills demo                       # downloads the course-skill models once
  course-skills demo --no-rerank           # bi-encoder only
  course-skills demo --model ./e5-course-skills --reranker ./bge-reranker-course-skills
  course-skills demo --course "Excel für Einsteiger: Tabellen, Formeln und Diagramme"
  course-skills demo --chroma-url http://localhost:8000
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `demo` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="index a small bundled sample taxonomy and rank skills for an example course",
        description=textwrap.fill(
            f"Index the {SAMPLE_FILE} that ships with the package (about 200 German skills "
            "in ESCO style, made up for this demo) into a local store, then rank its skills "
            "for an example course (a WordPress beginners' course) with re-ranking."
        ),
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--course",
        metavar="TEXT",
        help="your own course description (default: the WordPress beginners' course)",
    )
    parser.add_argument("--no-rerank", action="store_true", help="rank by cosine similarity only")
    parser.add_argument(
        "--top-n", type=positive_int, default=DEFAULT_TOP_N, metavar="N", help="skills to show"
    )
    add_reranker_option(parser)
    add_store_options(parser, db_default=DEMO_DB, collection_default=DEMO_COLLECTION)
    add_model_options(parser, from_store=True)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Index the sample, search the example course and print the ranked skills."""
    course = EXAMPLE_COURSE if args.course is None else args.course.strip()
    if not course:
        msg = "--course is empty; pass the text of a course or leave --course out"
        raise CourseSkillsError(msg)
    sample = resources.files("langchain_course_skills") / "data" / SAMPLE_FILE
    with resources.as_file(sample) as path:
        documents = load_esco_skills(path, taxonomy=SAMPLE_TAXONOMY)
    choose_model(args, find_collection(store_client(args), args.collection))
    embeddings = make_embeddings(args)
    cross_encoder = None if args.no_rerank else make_cross_encoder(args)  # fail before indexing
    # prune: the demo collection holds the sample only, whatever an older version indexed.
    report = sync_skill_store(
        documents, embeddings, **store_location(args), collection_name=args.collection, prune=True
    )
    print(
        f"indexed {len(documents)} sample skills into {store_name(args)} "
        f"(collection {args.collection!r}): {report.added} added, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.removed} removed in {report.seconds:.1f} s"
    )
    print(f"\ncourse: {course}\n")
    retriever = SkillRetriever(
        store=report.store,
        k=args.top_n if cross_encoder is None else max(DEFAULT_K, args.top_n),
        reranker=None
        if cross_encoder is None
        else SkillReranker(cross_encoder=cross_encoder, top_n=args.top_n),
    )
    print_results(retriever.invoke(course), as_json=False)
    return 0
