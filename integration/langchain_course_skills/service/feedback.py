"""Curators' verdicts on (course text, skill) pairs, kept in SQLite, and their export as gold.

The database is one SQLite file in WAL mode with full synchronous commits: a verdict is on disk
before the service answers, several worker processes write to it safely (SQLite's own locking,
with a busy timeout), and a crash or a kill loses nothing that was answered. Verdicts are
appended, never overwritten; the latest verdict on a pair is the one that counts.

Example:
    >>> store = FeedbackStore("skills-db-feedback.sqlite3")
    >>> store.record(text="WordPress Grundlagen", uri="http://data.europa.eu/esco/skill/x",
    ...              label="WordPress", taxonomy="ESCO", verdict="accepted").verdict
    'accepted'
    >>> export_gold(store, "gold.jsonl").accepted
    1
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from langchain_course_skills.errors import CourseSkillsError

Verdict = Literal["accepted", "rejected"]
VERDICTS: tuple[Verdict, ...] = ("accepted", "rejected")
FEEDBACK_SUFFIX = "-feedback.sqlite3"  # default file: beside the store folder, <folder><suffix>
SERVER_FEEDBACK_FILE = "course-skills-feedback.sqlite3"  # default with a Chroma server
BUSY_TIMEOUT_MS = 10_000  # how long a writer waits for another process's write to finish
_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS courses (
    text_sha256 TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    course_id TEXT,
    first_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS verdicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    text_sha256 TEXT NOT NULL REFERENCES courses (text_sha256),
    uri TEXT NOT NULL,
    label TEXT NOT NULL,
    taxonomy TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('accepted', 'rejected')),
    similarity REAL,
    relevance_score REAL,
    evidence_start INTEGER,
    evidence_end INTEGER,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS verdicts_by_pair ON verdicts (text_sha256, uri, id);
"""
# The latest verdict of every (course text, skill) pair.
_LATEST = """
SELECT v.id, v.text_sha256, c.course_id, c.text, v.uri, v.label, v.taxonomy, v.verdict,
       v.created_at
FROM verdicts AS v
JOIN (SELECT MAX(id) AS id FROM verdicts GROUP BY text_sha256, uri) AS last ON v.id = last.id
JOIN courses AS c ON c.text_sha256 = v.text_sha256
"""


class FeedbackError(CourseSkillsError, ValueError):
    """The feedback database is missing or unreadable, or holds nothing to export."""


@dataclass(frozen=True)
class StoredVerdict:
    """One recorded verdict."""

    id: int
    """Row id: later verdicts have larger ids."""
    text_sha256: str
    """SHA-256 of the course text (stripped), which identifies the course."""
    uri: str
    """The skill's id."""
    label: str
    """The skill's label when the verdict was given."""
    taxonomy: str
    """The skill's taxonomy."""
    verdict: Verdict
    """accepted or rejected."""
    created_at: str
    """When it was recorded (ISO 8601, UTC)."""


@dataclass(frozen=True)
class GoldExport:
    """What `export_gold` wrote."""

    path: Path
    """The gold file."""
    courses: int
    """Lines written: courses with at least one accepted skill."""
    accepted: int
    """Accepted pairs, written as `relevant`."""
    rejected: int
    """Rejected pairs of those courses, written as `neg` (hard negatives for fine-tuning)."""


def text_sha256(text: str) -> str:
    """Return the hex SHA-256 of a course text, stripped, as the store keys courses."""
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()


def default_feedback_path(db: str | Path | None) -> Path:
    """Return where the verdicts go by default.

    Beside an embedded store folder `skills-db`: `skills-db-feedback.sqlite3`. With a Chroma
    server (`db` None): `course-skills-feedback.sqlite3` in the working directory.
    """
    if db is None:
        return Path(SERVER_FEEDBACK_FILE).resolve()
    folder = Path(db).expanduser().resolve()
    return folder.with_name(folder.name + FEEDBACK_SUFFIX)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class FeedbackStore:
    """Curators' verdicts in one SQLite file (WAL mode), safe for several processes.

    Each call opens its own connection, so one store serves any number of threads; each
    verdict is one transaction, committed with `synchronous=FULL` before `record` returns.
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        """Open (and with `create`, create) the database at `path`.

        Raises:
            FeedbackError: `create` is False and there is no database at `path`, or the file
                is not a feedback database.
        """
        self.path = Path(path).expanduser()
        if not create and not self.path.is_file():
            msg = (
                f"no feedback database at {str(self.path)!r}; curate with `course-skills serve` "
                "first, or pass the file the service wrote with --feedback PATH"
            )
            raise FeedbackError(msg)
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._connect() as connection:
                # WAL is a property of the file: set once, every later connection uses it.
                connection.execute("PRAGMA journal_mode=WAL")
                connection.executescript(_SCHEMA)
                connection.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            msg = (
                f"{str(self.path)!r} is not a feedback database ({exc}); pass another "
                "--feedback PATH or move the file away"
            )
            raise FeedbackError(msg) from exc

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            connection.execute("PRAGMA synchronous=FULL")  # durable at commit, even on power loss
            connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            with connection:  # one transaction: commit on success, roll back on error
                yield connection
        finally:
            connection.close()

    def record(
        self,
        *,
        text: str,
        uri: str,
        label: str,
        taxonomy: str,
        verdict: Verdict,
        course_id: str | None = None,
        similarity: float | None = None,
        relevance_score: float | None = None,
        evidence: tuple[int, int] | None = None,
    ) -> StoredVerdict:
        """Append a verdict on (course text, skill) and return it once it is on disk."""
        if verdict not in VERDICTS:
            msg = f"verdict must be one of {VERDICTS}, got {verdict!r}"
            raise ValueError(msg)
        text = text.strip()
        digest = text_sha256(text)
        created = _now()
        start, end = evidence if evidence is not None else (None, None)
        with self._connect() as connection:
            connection.execute(
                "INSERT INTO courses (text_sha256, text, course_id, first_seen) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (text_sha256) DO UPDATE SET "
                "course_id = COALESCE(courses.course_id, excluded.course_id)",
                (digest, text, course_id, created),
            )
            cursor = connection.execute(
                "INSERT INTO verdicts (text_sha256, uri, label, taxonomy, verdict, similarity, "
                "relevance_score, evidence_start, evidence_end, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    digest,
                    uri,
                    label,
                    taxonomy,
                    verdict,
                    similarity,
                    relevance_score,
                    start,
                    end,
                    created,
                ),
            )
            row_id = int(cursor.lastrowid or 0)
        return StoredVerdict(row_id, digest, uri, label, taxonomy, verdict, created)

    def verdicts(self, text: str) -> dict[str, Verdict]:
        """Return the latest verdict per skill id for one course text."""
        with self._connect() as connection:
            rows = connection.execute(
                _LATEST + " WHERE v.text_sha256 = ? ORDER BY v.id", (text_sha256(text),)
            ).fetchall()
        return {row[4]: row[7] for row in rows}

    def counts(self) -> dict[str, int]:
        """Return how many pairs are accepted and rejected now (latest verdicts)."""
        with self._connect() as connection:
            rows = connection.execute(
                f"SELECT verdict, COUNT(*) FROM ({_LATEST}) GROUP BY verdict"
            ).fetchall()
        found = dict(rows)
        return {verdict: int(found.get(verdict, 0)) for verdict in VERDICTS}

    def latest(self) -> list[tuple[str, str | None, str, StoredVerdict]]:
        """Return (text sha256, course id, course text, verdict) for every pair, oldest first."""
        with self._connect() as connection:
            rows = connection.execute(_LATEST + " ORDER BY v.id").fetchall()
        return [(row[1], row[2], row[3], StoredVerdict(row[0], row[1], *row[4:9])) for row in rows]


@dataclass
class _Course:
    course_id: str | None
    text: str
    relevant: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def _gold_lines(store: FeedbackStore, negatives: bool) -> list[dict[str, Any]]:
    courses: dict[str, _Course] = {}
    for digest, course_id, text, verdict in store.latest():
        course = courses.setdefault(digest, _Course(course_id, text))
        (course.relevant if verdict.verdict == "accepted" else course.rejected).append(verdict.uri)
    lines: list[dict[str, Any]] = []
    used: set[str] = set()
    for digest, course in courses.items():
        if not course.relevant:
            continue  # a gold line needs at least one relevant skill
        query_id = course.course_id or f"text-{digest[:12]}"
        if query_id in used:  # one course id whose text changed: both versions are kept
            query_id = f"{query_id}-{digest[:8]}"
        used.add(query_id)
        line: dict[str, Any] = {"id": query_id, "query": course.text, "relevant": course.relevant}
        if negatives and course.rejected:
            line["neg"] = course.rejected
        lines.append(line)
    return lines


def export_gold(store: FeedbackStore, out: str | Path, *, negatives: bool = True) -> GoldExport:
    """Write the accepted pairs as a gold JSONL file that `evaluate` and `finetune` read.

    One line per course with at least one accepted skill:
    `{"id": ..., "query": "course text", "relevant": [skill ids], "neg": [skill ids]}`, where
    `neg` holds the course's rejected skills (fine-tuning uses them as hard negatives;
    evaluation ignores them). The file is written whole, then moved into place.

    Args:
        store: The feedback database.
        out: The gold file to write.
        negatives: Write rejected skills as `neg`.

    Raises:
        FeedbackError: No course has an accepted skill yet.
    """
    from langchain_course_skills.evaluation.gold import parse_gold  # imports the store: late

    lines = _gold_lines(store, negatives)
    if not lines:
        msg = (
            f"{store.path.name} holds no accepted skill yet, so there is no gold line to write; "
            "accept skills on the curator page (or POST /v1/feedback) first"
        )
        raise FeedbackError(msg)
    texts = [json.dumps(line, ensure_ascii=False) for line in lines]
    parse_gold(texts, source=str(out))  # the reader `evaluate` uses must accept every line
    target = Path(out).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with partial.open("w", encoding="utf-8") as handle:
        handle.write("\n".join(texts) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(target)
    accepted = sum(len(line["relevant"]) for line in lines)
    rejected = sum(len(line.get("neg", ())) for line in lines)
    return GoldExport(target, len(lines), accepted, rejected)
