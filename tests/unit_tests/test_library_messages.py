"""Library messages name parameters, never command-line flags: each face words them its way."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from langchain_course_skills.cli import PARAMETER_OPTIONS
from langchain_course_skills.errors import StoreNotFoundError, parameter

PACKAGE = Path(__file__).parents[2] / "integration" / "langchain_course_skills"
FACES = ("cli", "service")  # they word messages for their users: flags, HTTP fields
# A flag or a command of ours; the commands of other tools (`chroma run --path DIR`,
# `hf download ... --local-dir DIR`) are named as those tools spell them.
OURS = re.compile(r"(?<![\w-])--[a-z]|(?<![\w-])course-skills(?= [a-z])")
OTHER_TOOLS = re.compile(r"`(?:chroma run|hf download)[^`]*`")


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _text(node: ast.expr) -> str:
    """A string literal, with each placeholder of an f-string as {}."""
    if isinstance(node, ast.Constant):
        return str(node.value)
    assert isinstance(node, ast.JoinedStr)
    return "".join(_text(part) if isinstance(part, ast.Constant) else "{}" for part in node.values)


def _strings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    inner = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    return [
        (node.lineno, _text(node))
        for node in ast.walk(tree)
        if (
            isinstance(node, ast.JoinedStr)
            or (isinstance(node, ast.Constant) and isinstance(node.value, str))
        )
        and id(node) not in skip
        and id(node) not in inner
    ]


def test_no_library_message_spells_a_flag_or_a_command() -> None:
    modules = [p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in FACES]
    found = [
        f"{path.relative_to(PACKAGE)}:{line}: {text[:90]!r}"
        for path in modules
        for line, text in _strings(path)
        if OURS.search(OTHER_TOOLS.sub("", text))
    ]

    assert len(modules) > 40
    assert found == []


def test_the_command_line_spells_the_parameters_of_a_store_error() -> None:
    error = StoreNotFoundError(
        f"no skill store at 'db'; build it with {parameter('build_skill_store')} and "
        f"{parameter('persist_directory', repr('db'))}"
    )

    assert str(error) == (
        "no skill store at 'db'; build it with build_skill_store and persist_directory='db'"
    )
    assert error.explain_for(PARAMETER_OPTIONS) == (
        "no skill store at 'db'; build it with `course-skills index` and --db db"
    )


@pytest.mark.parametrize("name", ["persist_directory", "collection_name", "url", "feedback_path"])
def test_every_parameter_the_library_names_has_a_flag(name: str) -> None:
    assert PARAMETER_OPTIONS[name].startswith("--")
