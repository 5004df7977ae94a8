"""`course-skills feedback export`: the curators' accepted skills as a gold file."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from langchain_course_skills.cli._common import DEFAULT_DB, HelpFormatter

EPILOG = """\
examples:
  course-skills feedback export --out gold.jsonl                   # beside skills-db
  course-skills feedback export --db my-db --out gold.jsonl        # my-db-feedback.sqlite3
  course-skills feedback export --feedback course-skills-feedback.sqlite3 --out gold.jsonl

Each line is {"id", "query": course text, "relevant": [accepted skill ids], "neg": [rejected
skill ids]}: `course-skills evaluate gold.jsonl` scores on it, `course-skills finetune --train
gold.jsonl` trains on it (rejected skills become hard negatives). The latest verdict on a
(course, skill) pair counts; courses without an accepted skill are left out.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `feedback` subcommand and its `export`."""
    parser = subparsers.add_parser(
        "feedback",
        help="export the curators' verdicts (from `serve`) as a gold file",
        description="Work with the verdicts that curators gave on the `serve` page or API.",
        formatter_class=HelpFormatter,
    )
    commands = parser.add_subparsers(dest="feedback_command", metavar="COMMAND", required=True)
    export = commands.add_parser(
        "export",
        help="write the accepted skills as gold JSONL for evaluate and finetune",
        description=textwrap.fill(
            "Write every course with at least one accepted skill as one line of a gold file, "
            "in the format that `course-skills evaluate` and `course-skills finetune` read."
        ),
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    export.add_argument("--out", type=Path, required=True, metavar="PATH", help="gold file")
    export.add_argument(
        "--feedback",
        metavar="PATH",
        help="the service's feedback database (default: the one beside --db)",
    )
    export.add_argument(
        "--db",
        default=DEFAULT_DB,
        metavar="DIR",
        help="the store folder the service ran on; its feedback file lies beside it",
    )
    export.add_argument(
        "--no-negatives",
        action="store_true",
        help="leave rejected skills out (by default they are written as `neg`)",
    )
    export.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    """Export and say what was written."""
    from langchain_course_skills.service.feedback import (
        FeedbackStore,
        default_feedback_path,
        export_gold,
    )

    path = args.feedback or default_feedback_path(args.db)
    store = FeedbackStore(path, create=False)
    report = export_gold(store, args.out, negatives=not args.no_negatives)
    negatives = "" if args.no_negatives else f", {report.rejected} rejected as negatives"
    print(
        f"wrote {report.courses} course(s) with {report.accepted} accepted skill(s){negatives} "
        f"to {report.path}"
    )
    return 0
