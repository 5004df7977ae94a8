"""`course-skills map`: map a whole course catalogue to skills, resumably, locally or on Ray."""

from __future__ import annotations

import argparse
import sys
import textwrap

from langchain_course_skills.cli._common import (
    HelpFormatter,
    add_model_options,
    add_reranker_option,
    add_result_options,
    add_store_options,
    add_verdict_options,
    check_models,
    check_sizes,
    choose_model,
    open_feedback,
    positive_int,
    require_collection,
    retriever_spec,
)
from langchain_course_skills.courses import DEFAULT_ID_COLUMN, DEFAULT_TEXT_COLUMNS, read_courses
from langchain_course_skills.errors import CourseSkillsError
from langchain_course_skills.vocabulary import DEFAULT_MAP_BATCH

# Heavy modules (torch, chromadb, Ray) are imported inside `run`, so that `--help` answers at once.

EXIT_SOME_FAILED = 3  # the run finished, but some courses could not be mapped

EPILOG = """\
examples:
  # a CSV with columns id, title, description -> one JSON line per course
  course-skills map catalogue.csv -o skills.jsonl --db skills-db --rerank

  # other columns, CSV out (one row per course and skill), from standard input
  cat kurse.jsonl | course-skills map - -o skills.csv --id-column kurs_id \\
      --text-column titel --text-column beschreibung

  # a folder of .txt files, one course each (the file name is the id)
  course-skills map kurse/ -o skills.jsonl

  # on a Ray cluster, the store on a Chroma server every worker reaches
  course-skills map catalogue.csv -o skills.jsonl --ray auto \\
      --chroma-url http://chroma:8000 --rerank --ray-gpus 1

Running it again skips the courses the output holds with the same text, maps new and changed
ones, and repairs what an interrupted run left: a finished run leaves one record per course.
Courses that cannot be mapped (no id, empty text, not UTF-8) are listed with their line; the
others are mapped, and the exit status is 3. Where curators judged a course on the `serve`
page (--feedback, default DIR-feedback.sqlite3 beside --db), its skills carry their verdict,
rejected skills are left out, accepted ones are kept, and the course is mapped again on every
run so that new verdicts take effect.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `map` subcommand."""
    parser = subparsers.add_parser(
        "map",
        help="map a whole course catalogue to skills (resumable; local or on Ray)",
        description=textwrap.fill(
            "Find the skills of every course of a catalogue: a CSV or JSONL file, - for "
            "standard input, or a folder of .txt files. Courses are mapped in batches (one "
            "model load, batched encoding and re-ranking); texts longer than the model reads "
            "are read passage by passage. The output is JSONL (one line per course) or CSV "
            "(one row per course and skill), appended and flushed per batch."
        ),
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("input", metavar="INPUT", help="catalogue: .csv, .jsonl, - or a folder")
    parser.add_argument(
        "-o", "--output", required=True, metavar="PATH", help="output file: .jsonl or .csv"
    )
    group = parser.add_argument_group("catalogue")
    group.add_argument(
        "--id-column", default=DEFAULT_ID_COLUMN, metavar="COLUMN", help="column of course ids"
    )
    group.add_argument(
        "--text-column",
        action="append",
        metavar="COLUMN",
        help="column joined into the course text (repeatable; default: "
        f"{' and '.join(DEFAULT_TEXT_COLUMNS)})",
    )
    group.add_argument(
        "--input-format", choices=("csv", "jsonl", "txt"), help="default: from the suffix"
    )
    group.add_argument(
        "--format", choices=("jsonl", "csv"), help="output format (default: from its suffix)"
    )
    group.add_argument(
        "--overwrite", action="store_true", help="start the output afresh instead of resuming"
    )
    group.add_argument(
        "--courses-per-batch",
        type=positive_int,
        default=DEFAULT_MAP_BATCH,
        metavar="N",
        help="courses mapped (and written) per batch",
    )
    add_result_options(
        parser, top_n_help="skills kept per course (with --rerank: the best N of the k re-ranked)"
    )
    ray = parser.add_argument_group("ray")
    ray.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run on Ray: a cluster address (e.g. auto, ray://head:10001) or none for a local "
        "Ray; needs --chroma-url and `pip install 'langchain-course-skills[ray]'`",
    )
    ray.add_argument("--ray-actors", type=positive_int, metavar="N", help="workers (models each)")
    ray.add_argument(
        "--ray-cpus", type=float, default=1.0, metavar="N", help="CPUs reserved per worker"
    )
    ray.add_argument(
        "--ray-gpus", type=float, metavar="N", help="GPUs per worker (default: 1 if any)"
    )
    add_reranker_option(parser)
    add_verdict_options(parser)
    add_store_options(parser)
    add_model_options(parser, from_store=True)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Map the catalogue and print a one-line summary; list the courses that failed."""
    check_sizes(args)
    if args.ray is not None and not args.chroma_url:
        msg = (
            "--ray needs the store on a Chroma server every worker reaches: start one with "
            "`chroma run --path DB_FOLDER --host 0.0.0.0 --port 8000` and pass --chroma-url"
        )
        raise CourseSkillsError(msg)
    courses = list(
        read_courses(
            args.input,
            id_column=args.id_column,
            text_columns=args.text_column or DEFAULT_TEXT_COLUMNS,
            input_format=args.input_format,
        )
    )
    feedback = open_feedback(args)
    collection = require_collection(args)  # fails before any model is loaded
    if args.taxonomy:
        from langchain_course_skills.store import check_taxonomies

        check_taxonomies(collection, args.taxonomy)
    choose_model(args, collection)
    check_models(args, reranker=args.rerank)
    from langchain_course_skills.mapping import RayOptions, map_courses

    options = None
    if args.ray is not None:
        options = RayOptions(
            address=args.ray or None,
            actors=args.ray_actors,
            num_cpus=args.ray_cpus,
            num_gpus=args.ray_gpus,
        )
    try:
        report = map_courses(
            courses,
            args.output,
            retriever_spec(args),
            output_format=args.format,
            batch_size=args.courses_per_batch,
            engine="ray" if options else "local",
            ray=options,
            overwrite=args.overwrite,
            feedback=feedback,
            keep_rejected=args.keep_rejected,
        )
    except ImportError as exc:  # Ray is an optional extra
        raise CourseSkillsError(str(exc)) from exc
    from langchain_course_skills.cli import PARAMETER_OPTIONS

    for failure in report.failed:
        print(f"failed: {failure.explain_for(PARAMETER_OPTIONS)}", file=sys.stderr)
    print(report.summary())
    return EXIT_SOME_FAILED if report.failed else 0
