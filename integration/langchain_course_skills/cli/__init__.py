"""The `course-skills` command line.

Each subcommand lives in its own module of this package with a `register(subparsers)`
function that adds its parser and sets `handler`. Expected errors (`CourseSkillsError`) are
printed as one line without a traceback and exit with status 1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from langchain_course_skills._version import package_version
from langchain_course_skills.errors import CourseSkillsError, ModelLoadError

EXIT_ERROR = 1  # an expected error, explained in one line
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report it
_COMMAND_ORDER = ("index", "search", "info", "demo", "evaluate", "finetune")  # modules
# How the command line takes each kind of model, and how to go on without it; a command sets
# its own with `parser.set_defaults(model_options=..., skip_model=...)`.
MODEL_OPTIONS = {"embedding": "--model DIR", "cross-encoder": "--reranker DIR"}
SKIP_MODEL = {"cross-encoder": "leave out --rerank"}


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every subcommand module of this package registered."""
    parser = argparse.ArgumentParser(
        prog="course-skills",
        description="Map course descriptions to the skills of a taxonomy (ESCO, GRETA, your own).",
        epilog="Run `course-skills COMMAND --help` for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    names = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    order = {name: index for index, name in enumerate(_COMMAND_ORDER)}
    for name in sorted(names, key=lambda n: (order.get(n, len(order)), n)):
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args) or 0)
    except ModelLoadError as exc:
        options = getattr(args, "model_options", MODEL_OPTIONS)
        skip = getattr(args, "skip_model", SKIP_MODEL).get(exc.kind)
        message = exc.explain(options.get(exc.kind, "--model DIR"), skip=skip)
        print(f"error: {message}", file=sys.stderr)
        return EXIT_ERROR
    except CourseSkillsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(
            "interrupted; what was written is kept, and running the same command again "
            "completes it without duplicates",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
