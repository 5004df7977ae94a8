"""Gold sets: course texts with the skills they should retrieve, read from JSONL files.

Each line is one JSON object in one of three formats (mixing them in a file is fine):

* ``{"query": "...", "relevant": ["<skill id or label>", ...]}``, this package's own format;
* ``{"query": "...", "pos": [...], "neg": [...]}``, the model card's fine-tuning format
  (``pos`` are the relevant skills, ``neg`` is ignored);
* ``{"sentence": "...", "uris": [...]}``, the Decorte et al. skill-extraction files.

An optional ``"id"`` names the query in the per-query results (default: its line number).
A line with ``"relevant": []`` and a non-empty ``"neg"`` (a course whose curators rejected
skills and accepted none, as `feedback export` writes it) has no metrics and is skipped.
Relevant entries are skill ids (URIs) or labels; `resolve_relevant` maps them to the ids of a
store's skills, labels by exact match ignoring case and runs of white space (`SkillIndex`, which
fine-tuning's alignment files use too).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_course_skills._jsonl import json_objects
from langchain_course_skills.errors import GoldSetError, parameter
from langchain_course_skills.store import iter_stored, skill_collection
from langchain_course_skills.views import is_main_passage

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection
    from langchain_chroma import Chroma
    from langchain_core.documents import Document

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


@dataclass(frozen=True)
class GoldSet:
    """Gold queries resolved against a taxonomy, ready to score a ranking of its skills."""

    queries: dict[str, str]
    """Query id -> the course text."""
    relevant: dict[str, frozenset[str]]
    """Query id -> the ids of its relevant skills."""


@dataclass
class SkillIndex:
    """Find skills by id, or by one of their names ignoring case and runs of white space.

    Example:
        >>> SkillIndex({"u1": ["Taste wines"], "u2": ["Haskell"]}).find("  TASTE  WINES")
        ['u1']
    """

    names: Mapping[str, Iterable[str]]
    """Skill id -> the names it is found by (its label, its passage text, ...)."""
    _by_key: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for skill_id, names in self.names.items():
            for key in dict.fromkeys(name_key(name) for name in names):
                if key:
                    self._by_key.setdefault(key, []).append(skill_id)

    def find(self, entry: str) -> list[str]:
        """Return the ids `entry` stands for: itself if it is an id, else the skills it names."""
        if entry in self.names:
            return [entry]
        return list(self._by_key.get(name_key(entry), []))


def name_key(name: str) -> str:
    """How skill names are compared: case and runs of white space ignored."""
    return " ".join(name.split()).casefold()


def jsonl_lines(path: str | Path, what: str, error: type[Exception]) -> Iterator[str]:
    """Yield the lines of a UTF-8 JSONL file, or raise `error` if it is missing or not UTF-8.

    Args:
        path: The file.
        what: What the file is, for messages ("gold file", "training file").
        error: The exception class to raise, so each caller keeps its own error type.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        msg = f"{what} {str(file)!r} does not exist or is not a file; check the path"
        raise error(msg)
    try:
        with file.open(encoding="utf-8-sig") as handle:
            yield from handle
    except UnicodeDecodeError as exc:
        msg = f"{what} {file.name} is not UTF-8 ({exc.reason}); save it as UTF-8 JSONL"
        raise error(msg) from exc


def query_text(record: Mapping[str, Any], where: str, error: type[Exception] = GoldSetError) -> str:
    """Return the course text of a gold or training line, or raise `error` naming the line."""
    key = next((k for k in QUERY_KEYS if k in record), None)
    if key is None:
        msg = (
            f"{where}: no query text (the line has {sorted(record)}); write "
            '{"query": "course text", "relevant": ["skill URI or label", ...]}'
        )
        raise error(msg)
    text = record[key]
    if not isinstance(text, str) or not text.strip():
        msg = f"{where}: {key!r} must be a non-empty string, got {text!r:.60}"
        raise error(msg)
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


def _rejections_only(record: Mapping[str, Any]) -> bool:
    """Whether a line holds rejected skills and no relevant one (`feedback export` writes it)."""
    relevant = next((record[k] for k in RELEVANT_KEYS if k in record), None)
    return relevant == [] and isinstance(record.get("neg"), list) and bool(record["neg"])


def parse_gold(lines: Iterable[str], source: str = "gold set") -> list[GoldQuery]:
    """Parse JSONL gold lines (see the module docstring for the formats).

    Args:
        lines: The lines of a gold file; blank lines are skipped.
        source: The file's name, for messages.

    Returns:
        The queries, in file order, without the lines that hold rejected skills only.

    Raises:
        GoldSetError: A line is not a JSON object in one of the formats (the message names its
            line number), two lines share an id, or there is no query at all.
    """
    queries: list[GoldQuery] = []
    seen: dict[str, int] = {}
    skipped = 0
    for number, record in json_objects(lines, source, GoldSetError):
        where = f"{source}, line {number}"
        query_id = str(number if record.get("id") is None else record["id"])
        if query_id in seen:
            msg = f"{where}: id {query_id!r} is also on line {seen[query_id]}; ids must be unique"
            raise GoldSetError(msg)
        seen[query_id] = number
        if _rejections_only(record):
            skipped += 1
            continue
        queries.append(
            GoldQuery(query_id, query_text(record, where), _relevant(record, where), line=number)
        )
    if skipped:
        logger.info("%s: %d lines with rejected skills only skipped (no metrics)", source, skipped)
    if not queries:
        msg = (
            f"{source} has no queries with a relevant skill; write one JSON object per line, e.g. "
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
    return parse_gold(jsonl_lines(path, "gold file", GoldSetError), source=Path(path).name)


def _label(metadata: Mapping[str, Any], text: str | None) -> str:
    return str(metadata.get("label") or text or "")


def skill_labels(store: Chroma) -> dict[str, str]:
    """Return every skill of a store as id -> label (its text where it has no label).

    A skill's further views (alternative labels, other languages) are passages of the same
    skill, not skills of their own.
    """
    return collection_labels(skill_collection(store))


def collection_labels(collection: Collection) -> dict[str, str]:
    """`skill_labels` of a Chroma collection, read without an embedding model."""
    return {
        skill_id: _label(metadata, text)
        for skill_id, metadata, text in iter_stored(collection, with_documents=True)
        if is_main_passage(metadata)
    }


def document_labels(documents: Sequence[Document]) -> dict[str, str]:
    """`skill_labels` of a taxonomy's documents (from `load_taxonomy`), before they are stored."""
    return {
        str(doc.id): _label(doc.metadata, doc.page_content)
        for doc in documents
        if is_main_passage(doc.metadata)
    }


def resolve_relevant(
    queries: Sequence[GoldQuery], labels: Mapping[str, str], *, strict: bool = True
) -> dict[str, frozenset[str]]:
    """Map each query's relevant entries to skill ids of a store.

    An entry that is a skill id is kept; otherwise it must equal a skill's label, ignoring case
    and runs of white space. A label shared by several skills stands for all of them.

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
    index = SkillIndex({skill_id: (label,) for skill_id, label in labels.items()})
    resolved: dict[str, frozenset[str]] = {}
    missing: list[str] = []
    for query in queries:
        ids: set[str] = set()
        for entry in query.relevant:
            found = index.find(entry)
            if not found:
                missing.append(f"line {query.line} (id {query.query_id}): {entry!r}")
            ids.update(found)
        if ids:
            resolved[query.query_id] = frozenset(ids)
    if missing and strict:
        shown = "; ".join(missing[:_SHOWN_ERRORS])
        more = f" and {len(missing) - _SHOWN_ERRORS} more" if len(missing) > _SHOWN_ERRORS else ""
        msg = (
            f"{len(missing)} relevant entries are neither a skill id nor a skill label of the "
            f"store ({len(labels)} skills): {shown}{more}. Fix the gold file, index the taxonomy "
            f"version it was made for, or skip them ({parameter('strict', 'False')})"
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


def load_gold_set(path: str | Path, documents: Sequence[Document]) -> GoldSet:
    """Read a gold file and resolve it against a taxonomy's skills (strictly).

    Example:
        >>> gold = load_gold_set("tech_validation.jsonl", load_esco_skills("skills_en.csv"))
        >>> len(gold.queries)
        75

    Args:
        path: A gold JSONL file, in any of the formats `load_gold` reads.
        documents: The taxonomy's skills; every relevant entry must be one's id or label.

    Raises:
        GoldSetError: If the file is missing or malformed or names skills not in the taxonomy.
    """
    queries = load_gold(path)
    labels = {str(doc.id): _label(doc.metadata, doc.page_content) for doc in documents}
    relevant = resolve_relevant(queries, labels)
    return GoldSet({q.query_id: q.query for q in queries if q.query_id in relevant}, relevant)
