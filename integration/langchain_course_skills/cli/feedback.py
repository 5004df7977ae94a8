"""`course-skills feedback export`: the curators' verdicts as a gold file."""

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
skill ids], "curators": {name: {"accepted": [...], "rejected": [...]}}}: `course-skills
evaluate gold.jsonl` scores on it, `course-skills finetune --train gold.jsonl` and
`finetune-reranker` train on it (rejected skills become hard negatives). The latest verdict on
a (course, skill) pair counts. A course with rejected skills only has "relevant": [] (evaluate
and finetune skip it). Where two curators judged a pair, it prints how often they agree.
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
        help="write the verdicts as gold JSONL for evaluate and finetune",
        description=textwrap.fill(
            "Write every course that curators judged as one line of a gold file, in the format "
            "that `course-skills evaluate` and `course-skills finetune` read."
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
    export.add_argument(
        "--curator",
        metavar="NAME",
        help="export only this curator's verdicts (default: the latest verdict of anyone)",
    )
    export.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    """Export and say what was written."""
    from langchain_course_skills.feedback import (
        FeedbackStore,
        default_feedback_path,
        export_gold,
    )

    path = args.feedback or default_feedback_path(args.db)
    store = FeedbackStore(path, create=False)
    report = export_gold(store, args.out, negatives=not args.no_negatives, curator=args.curator)
    negatives = "" if args.no_negatives else f", {report.rejected} rejected as negatives"
    only = f" ({report.rejected_only} with rejections only)" if report.rejected_only else ""
    print(
        f"wrote {report.courses} course(s){only} with {report.accepted} accepted skill(s)"
        f"{negatives} to {report.path}"
    )
    if report.curators:
        judged = ", ".join(f"{name} {count}" for name, count in report.curators.items())
        print(f"pairs judged per curator: {judged}")
    found = report.agreement
    if found.fraction is not None:
        kappas = "; ".join(
            f"{a} and {b}: {p.agreeing} of {p.pairs}"
            + ("" if p.kappa is None else f", kappa {p.kappa:.2f}")
            for p in found.by_curators
            for a, b in [p.curators]
        )
        print(
            f"curators agree on {found.agreeing} of {found.pairs} pairs judged by two or more "
            f"({found.fraction:.0%}); {kappas}"
        )
    return 0
