"""`course-skills search`: the skills a course description teaches."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from langchain_course_skills.cli._common import (
    HelpFormatter,
    add_model_options,
    add_reranker_option,
    add_result_options,
    add_store_options,
    add_verdict_options,
    build_retriever,
    check_models,
    check_sizes,
    choose_model,
    open_feedback,
    print_results,
    require_collection,
    result_records,
)
from langchain_course_skills.errors import CourseSkillsError

if TYPE_CHECKING:
    from langchain_core.documents import Document

EPILOG = """\
examples:
  course-skills search "WordPress Grundlagen: eine eigene Website erstellen" --db skills-db
  course-skills search --file kurs.txt --rerank -n 5
  cat kurs.txt | course-skills search --json --taxonomy ESCO > skills.json
  course-skills search --file kurs.txt --model ./e5-course-skills \\
      --rerank --reranker ./bge-reranker-course-skills     # local model folders, offline

--json prints a list with one object per skill: rank, label, uri, taxonomy, similarity,
relevance_score (null without --rerank), text (what the model saw) and evidence (the passage
of the course text that found the skill, as character offsets; null where none is recorded).
Where curators judged this exact text on the `serve` page, each skill carries its `verdict`
and rejected skills are left out (--keep-rejected keeps them, marked).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `search` subcommand."""
    parser = subparsers.add_parser(
        "search",
        help="find the skills a course description teaches",
        description=textwrap.fill(
            "Find the skills that a course description teaches: the k most similar skills of "
            "the store, optionally re-ranked by a cross-encoder. The text comes from TEXT, "
            "--file, or standard input."
        ),
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("text", nargs="?", metavar="TEXT", help="the course description")
    parser.add_argument(
        "--file", type=Path, metavar="PATH", help="read the course description from this file"
    )
    group = add_result_options(
        parser, top_n_help="skills shown (with --rerank: the best N of the k re-ranked)"
    )
    group.add_argument("--json", action="store_true", help="print JSON for scripts")
    add_reranker_option(parser)
    add_verdict_options(parser)
    add_store_options(parser)
    add_model_options(parser, from_store=True)
    parser.set_defaults(handler=run)


def course_text(args: argparse.Namespace) -> str:
    """Return the course description from TEXT, --file or standard input."""
    if args.text is not None and args.file is not None:
        msg = "give the course description either as TEXT or with --file, not both"
        raise CourseSkillsError(msg)
    if args.file is not None:
        try:
            text = args.file.read_text(encoding="utf-8-sig")
        except FileNotFoundError as exc:
            msg = f"--file {str(args.file)!r} does not exist; check the path"
            raise CourseSkillsError(msg) from exc
        except (OSError, UnicodeDecodeError) as exc:
            msg = f"cannot read --file {str(args.file)!r} ({exc}); save it as UTF-8 text"
            raise CourseSkillsError(msg) from exc
    elif args.text is not None and args.text != "-":
        text = args.text
    elif sys.stdin is None or sys.stdin.isatty():
        msg = (
            "no course description: give it as TEXT, with --file PATH, or on standard input "
            "(e.g. `cat kurs.txt | course-skills search`)"
        )
        raise CourseSkillsError(msg)
    else:
        text = sys.stdin.read()
    if not text.strip():
        msg = "the course description is empty; pass the text of a course"
        raise CourseSkillsError(msg)
    return text.strip()


def find_skills(args: argparse.Namespace, text: str) -> list[Document]:
    """Open the store named by the options and return the ranked skills for `text`."""
    from langchain_course_skills.store import check_taxonomies

    collection = require_collection(args)  # fails before any model is loaded
    if args.taxonomy:
        check_taxonomies(collection, args.taxonomy)
    choose_model(args, collection)
    check_models(args, reranker=args.rerank)
    return build_retriever(args).invoke(text)


def run(args: argparse.Namespace) -> int:
    """Search and print the ranked skills, with the curators' verdicts applied."""
    from langchain_course_skills.verdicts import apply_verdicts

    check_sizes(args)
    text = course_text(args)
    feedback = open_feedback(args)  # a bad path fails before any model is loaded
    found = result_records(find_skills(args, text))
    if feedback is not None:
        verdicts = feedback.course_verdicts([text])[0]
        found = apply_verdicts(found, verdicts, keep_rejected=args.keep_rejected)
    if found or args.json:
        print_results(found, as_json=args.json)
    if not found:
        print("no skills found; lower --min-score or drop --taxonomy", file=sys.stderr)
    return 0
