"""Gold sets: course texts with the skills they should retrieve, read from JSONL files.

Each line is one JSON object in one of three formats (mixing them in a file is fine):

* ``{"query": "...", "relevant": ["<skill id or label>", ...]}``, this package's own format;
* ``{"query": "...", "pos": [...], "neg": [...]}``, the model card's fine-tuning format
  (``pos`` are the relevant skills, ``neg`` is ignored);
* ``{"sentence": "...", "uris": [...]}``, the Decorte et al. skill-extraction files.

An optional ``"id"`` names the query in the per-query results (default: its line number).
Relevant entries are skill ids (URIs) or labels; `resolve_relevant` maps them to the ids of a
store's skills, labels by case-insensitive exact match.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_course_skills._jsonl import json_objects
from langchain_course_skills.errors import GoldSetError
from langchain_course_skills.store import iter_stored

if TYPE_CHECKING:
    from langchain_chroma import Chroma

logger = logging.getLogger(__name__)

QUERY_KEYS = ("query", "sentence")  # where a line keeps its course text, in order of preference
RELEVANT_KEYS = ("relevant", "pos", "uris")  # where it keeps its relevant skills
_SHOWN_ERRORS = 10  # unresolved entries listed in one message


@dataclass(frozen=True)
class GoldQuery:
    """One query of a gold set and the skills it should retrieve."""

    query_id: str
    """Unique id: the line's "id" field, else its line number."""
    query: str
    """The course text."""
    relevant: tuple[str, ...]
    """The relevant skills as the file gives them: skill ids (URIs) or labels."""
    line: int = 0
    """Line number in the gold file (1-based), for messages; 0 when not read from a file."""


def _text(record: Mapping[str, Any], where: str) -> str:
    key = next((k for k in QUERY_KEYS if k in record), None)
    if key is None:
        msg = (
            f"{where}: no query text (the line has {sorted(record)}); write "
            '{"query": "course text", "relevant": ["skill URI or label", ...]}'
        )
        raise GoldSetError(msg)
    text = record[key]
    if not isinstance(text, str) or not text.strip():
        msg = f"{where}: {key!r} must be a non-empty string, got {text!r:.60}"
        raise GoldSetError(msg)
    return text


def _relevant(record: Mapping[str, Any], where: str) -> tuple[str, ...]:
    key = next((k for k in RELEVANT_KEYS if k in record), None)
    if key is None:
        msg = (
            f"{where}: no relevant skills (the line has {sorted(record)}); add "
            '"relevant": ["skill URI or label", ...] (or "pos" / "uris")'
        )
        raise GoldSetError(msg)
    entries = record[key]
    if isinstance(entries, str) or not isinstance(entries, list):
        msg = f"{where}: {key!r} must be a list of skill URIs or labels, got {entries!r:.60}"
        raise GoldSetError(msg)
    bad = [entry for entry in entries if not isinstance(entry, str) or not entry.strip()]
    if bad:
        msg = f"{where}: {key!r} holds {bad!r:.60}; every entry must be a skill URI or label"
        raise GoldSetError(msg)
    if not entries:
        msg = (
            f"{where}: {key!r} is empty, so the metrics are undefined for this query; "
            "add its relevant skills or remove the line"
        )
        raise GoldSetError(msg)
    return tuple(dict.fromkeys(entry.strip() for entry in entries))


def parse_gold(lines: Iterable[str], source: str = "gold set") -> list[GoldQuery]:
    """Parse JSONL gold lines (see the module docstring for the formats).

    Args:
        lines: The lines of a gold file; blank lines are skipped.
        source: The file's name, for messages.

    Returns:
        The queries, in file order.

    Raises:
        GoldSetError: A line is not a JSON object in one of the formats (the message names its
            line number), two lines share an id, or there is no query at all.
    """
    queries: list[GoldQuery] = []
    seen: dict[str, int] = {}
    for number, record in json_objects(lines, source, GoldSetError):
        where = f"{source}, line {number}"
        query_id = str(number if record.get("id") is None else record["id"])
        if query_id in seen:
            msg = f"{where}: id {query_id!r} is also on line {seen[query_id]}; ids must be unique"
            raise GoldSetError(msg)
        seen[query_id] = number
        queries.append(
            GoldQuery(query_id, _text(record, where), _relevant(record, where), line=number)
        )
    if not queries:
        msg = (
            f"{source} has no queries; write one JSON object per line, e.g. "
            '{"query": "course text", "relevant": ["skill URI or label"]}'
        )
        raise GoldSetError(msg)
    return queries


def load_gold(path: str | Path) -> list[GoldQuery]:
    """Read a JSONL gold file (see the module docstring for the formats).

    Example:
        >>> queries = load_gold("decorte-validation/tech_validation.jsonl")
        >>> len(queries), queries[0].query
        (75, 'javascript reactjs java')

    Raises:
        GoldSetError: The file does not exist, is empty or has a malformed line.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        msg = f"gold file {str(file)!r} does not exist or is not a file; check the path"
        raise GoldSetError(msg)
    try:
        with file.open(encoding="utf-8-sig") as handle:
            return parse_gold(handle, source=file.name)
    except UnicodeDecodeError as exc:
        msg = f"gold file {file.name} is not UTF-8 ({exc.reason}); save it as UTF-8 JSONL"
        raise GoldSetError(msg) from exc


def skill_labels(store: Chroma) -> dict[str, str]:
    """Return every skill of a store as id -> label (its text where it has no label)."""
    return {
        skill_id: str(metadata.get("label") or text or "")
        for skill_id, metadata, text in iter_stored(store._collection, with_documents=True)
    }


def _key(label: str) -> str:
    return label.strip().casefold()


def resolve_relevant(
    queries: Sequence[GoldQuery], labels: Mapping[str, str], *, strict: bool = True
) -> dict[str, frozenset[str]]:
    """Map each query's relevant entries to skill ids of a store.

    An entry that is a skill id is kept; otherwise it must equal a skill's label, ignoring case
    and surrounding spaces. A label shared by several skills stands for all of them.

    Args:
        queries: The gold queries.
        labels: The store's skills as id -> label, from `skill_labels`.
        strict: Raise on entries that are neither an id nor a label; False drops them (with a
            warning), and drops queries left without any relevant skill.

    Returns:
        Query id -> the ids of its relevant skills.

    Raises:
        GoldSetError: With `strict`, if an entry does not resolve; the message lists them with
            their line numbers.
    """
    by_label: dict[str, list[str]] = {}
    for skill_id, label in labels.items():
        by_label.setdefault(_key(label), []).append(skill_id)
    resolved: dict[str, frozenset[str]] = {}
    missing: list[str] = []
    for query in queries:
        ids: set[str] = set()
        for entry in query.relevant:
            if entry in labels:
                ids.add(entry)
            elif _key(entry) in by_label:
                ids.update(by_label[_key(entry)])
            else:
                missing.append(f"line {query.line} (id {query.query_id}): {entry!r}")
        if ids:
            resolved[query.query_id] = frozenset(ids)
    if missing and strict:
        shown = "; ".join(missing[:_SHOWN_ERRORS])
        more = f" and {len(missing) - _SHOWN_ERRORS} more" if len(missing) > _SHOWN_ERRORS else ""
        msg = (
            f"{len(missing)} relevant entries are neither a skill id nor a skill label of the "
            f"store ({len(labels)} skills): {shown}{more}. Fix the gold file, index the taxonomy "
            "version it was made for, or skip them (strict=False, --skip-unresolved)"
        )
        raise GoldSetError(msg)
    if missing:
        dropped = len(queries) - len(resolved)
        logger.warning(
            "%d relevant entries are not in the store and were skipped (%d queries left without "
            "any relevant skill are dropped); first: %s",
            len(missing),
            dropped,
            missing[0],
        )
    if not resolved:
        msg = "no query has a relevant skill in the store; check that the gold set fits the store"
        raise GoldSetError(msg)
    return resolved
