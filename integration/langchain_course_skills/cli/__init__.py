"""The `course-skills` command line.

Each subcommand lives in its own module of this package with a `register(subparsers)`
function that adds its parser and sets `handler`. Expected errors (`CourseSkillsError`) are
printed as one line without a traceback and exit with status 1, and so are faults of the skill
store (a lost server, a full disk, damaged files), with secrets such as --chroma-token masked.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path

from langchain_course_skills._version import package_version
from langchain_course_skills.errors import CourseSkillsError, ModelLoadError

EXIT_ERROR = 1  # an expected error, explained in one line
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report it
EXIT_BROKEN_PIPE = 141  # the reader of stdout went away, as shells report SIGPIPE
_COMMAND_ORDER = ("index", "search", "info", "demo", "evaluate", "finetune")  # modules
# How the command line takes each kind of model, and how to go on without it; a command sets
# its own with `parser.set_defaults(model_options=..., skip_model=...)`.
MODEL_OPTIONS = {"embedding": "--model DIR", "cross-encoder": "--reranker DIR"}
SKIP_MODEL = {"cross-encoder": "leave out --rerank"}
# How the command line spells the library's parameters in error messages (see
# `CourseSkillsError.explain_for`); a command adds its own with
# `parser.set_defaults(parameter_options=...)`.
PARAMETER_OPTIONS = {
    "label_column": "--label-column",
    "id_column": "--id-column",
    "text_columns": "--text-column",
    "text_columns=['text']": "--text-column text",
    "passage_template": "--passage-template",
    "persist_directory": "--db",
    "collection_name": "--collection",
    "views": "--views",
    "device": "--device",
    "url": "--chroma-url",
    "token": "--chroma-token",
    "timeout": "--chroma-timeout",
    "feedback_path": "--feedback",
    # The functions that do a step, as the command that does it:
    "build_skill_store": "`course-skills index`",
    "map_courses": "`course-skills map`",
    "create_app": "`course-skills serve`",
}


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


def _store_error(exc: Exception, args: argparse.Namespace) -> CourseSkillsError | None:
    """The one-line error for a storage fault that reached the command line unexplained."""
    from langchain_course_skills.cli._common import store_name
    from langchain_course_skills.store._storage import store_fault

    if not hasattr(args, "db"):
        return store_fault(exc, "the skill store", files=False)
    folder = None if args.chroma_url or not args.db else Path(args.db).expanduser()
    return store_fault(exc, store_name(args), files=False, folder=folder)


def _error(message: str, args: argparse.Namespace) -> int:
    from langchain_course_skills.cli._common import secrets
    from langchain_course_skills.store._chroma_http import redact

    print(f"error: {redact(message, secrets(args))}", file=sys.stderr)
    return EXIT_ERROR


def _quiet_stdout() -> None:
    """Send what is left of stdout to /dev/null, so that the interpreter's exit stays quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        status = int(args.handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except BrokenPipeError:  # `course-skills info | head -2`: the reader has what it wanted
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except ModelLoadError as exc:
        options = getattr(args, "model_options", MODEL_OPTIONS)
        skip = getattr(args, "skip_model", SKIP_MODEL).get(exc.kind)
        return _error(exc.explain(options.get(exc.kind, "--model DIR"), skip=skip), args)
    except CourseSkillsError as exc:
        options = {**PARAMETER_OPTIONS, **getattr(args, "parameter_options", {})}
        return _error(exc.explain_for(options), args)
    except KeyboardInterrupt:
        print(
            "interrupted; what was written is kept, and running the same command again "
            "completes it without duplicates",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except Exception as exc:
        error = _store_error(exc, args)
        if error is None:
            raise
        return _error(str(error), args)
