"""Shared by the unit and the integration tests of map."""

from __future__ import annotations

import csv
import json
from pathlib import Path

LONG = " ".join(
    f"Module {i}: participants install heat pumps, repair bicycles and bake bread together."
    for i in range(60)
)  # about 1,000 tokens: read passage by passage


def _catalogue(folder: Path, n: int = 6) -> Path:
    path = folder / "catalogue.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "description"])
        for i in range(n):
            description = LONG if i == 2 else f"Learn to manage musical staff, lesson {i}."
            writer.writerow([f"c{i}", f"Course {i}", description])
    return path


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _map_args(db: Path, *extra: object) -> list[str]:
    return ["map", *map(str, extra), "--db", str(db), "-k", "10", "--precision", "fp32"]
