"""Shared by the unit and the integration tests of evaluation."""

from __future__ import annotations

import json
from pathlib import Path

HASKELL = "http://data.europa.eu/esco/skill/000f1d3d-220f-4789-9c0a-cc742521fb02"


# Course texts whose skill is obvious among the first 200 ESCO skills; relevant entries mix
# labels in other cases and a URI, as users write them.
OBVIOUS = [
    {
        "query": "Functional programming in Haskell: type classes, monads and lazy evaluation",
        "relevant": [HASKELL],
    },
    {
        "query": "Installing heat pumps in family homes: planning, mounting and commissioning",
        "relevant": ["install heat pump"],
    },
    {
        "query": "Wine tasting for beginners: how to taste wines and describe their aromas",
        "relevant": ["Taste Wines"],
    },
    {
        "query": "Introduction to criminology: theories of crime and criminal behaviour",
        "relevant": ["criminology"],
    },
    {"query": "Concurrent programming with Erlang and OTP", "relevant": ["ERLANG"]},
]


def jsonl(*records: object) -> list[str]:
    return [json.dumps(record) for record in records]


def write_gold(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(jsonl(*records)) + "\n", encoding="utf-8")
    return path
