"""Read JSONL files (taxonomies, gold sets, alignment data) with errors that name the line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any


def json_objects(
    lines: Iterable[str], source: str, error: type[Exception]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line, or raise `error` naming the line.

    Args:
        lines: The lines of the file (an open file works).
        source: The file's name, for messages.
        error: The exception class to raise, so each caller keeps its own error type.
    """
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            msg = (
                f"{source}, line {number}: not valid JSON ({exc.msg}); "
                "each line must be one JSON object"
            )
            raise error(msg) from exc
        if not isinstance(record, dict):
            msg = f"{source}, line {number}: expected a JSON object, got {line.strip()!r:.60}"
            raise error(msg)
        yield number, record
