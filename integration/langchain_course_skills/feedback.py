"""Curators' verdicts on (course text, skill) pairs, kept in SQLite, and their export as gold.

The database is one SQLite file in WAL mode with full synchronous commits: a verdict is on disk
before the service answers, several worker processes write to it safely (SQLite's own locking,
with a busy timeout), and a crash or a kill loses nothing that was answered. Verdicts are
appended, never overwritten; the latest verdict on a pair is the one that counts. Each verdict
may name its curator, so the export can tell curators apart and measure their agreement.

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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from langchain_course_skills.agreement import Agreement, agreement
from langchain_course_skills.errors import CourseSkillsError, parameter

Verdict = Literal["accepted", "rejected"]
VERDICTS: tuple[Verdict, ...] = ("accepted", "rejected")
FEEDBACK_SUFFIX = "-feedback.sqlite3"  # default file: beside the store folder, <folder><suffix>
SERVER_FEEDBACK_FILE = "course-skills-feedback.sqlite3"  # default with a Chroma server
BUSY_TIMEOUT_MS = 10_000  # how long a writer waits for another process's write to finish
# 1: the first schema; 2: verdicts.curator (a version-1 file gains the column when opened).
# The fingerprint columns (model, reranker, store_fingerprint) are optional columns that older
# versions never read: a file gains them when opened and stays at version 2, so that an older
# course-skills still opens it.
_SCHEMA_VERSION = 2
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
    created_at TEXT NOT NULL,
    curator TEXT,
    model TEXT,
    reranker TEXT,
    store_fingerprint TEXT
);
CREATE INDEX IF NOT EXISTS verdicts_by_pair ON verdicts (text_sha256, uri, id);
"""
_ADD_CURATOR = "ALTER TABLE verdicts ADD COLUMN curator TEXT"  # version 1 -> 2
# What proposed the skill: the embedding model, the reranker, the store's fingerprint digest.
_FINGERPRINT_COLUMNS = ("model", "reranker", "store_fingerprint")
_ADD_FINGERPRINT = "ALTER TABLE verdicts ADD COLUMN {column} TEXT"
# The latest verdict of every (course text, skill) pair, whoever gave it; with {curator}
# filled in by _PER_CURATOR, the latest of every named curator on every pair they judged.
_LATEST_OF = """
SELECT v.id, v.text_sha256, c.course_id, c.text, v.uri, v.label, v.taxonomy, v.verdict,
       v.created_at, v.curator, v.model, v.reranker, v.store_fingerprint
FROM verdicts AS v
JOIN (SELECT MAX(id) AS id FROM verdicts {curator}) AS last ON v.id = last.id
JOIN courses AS c ON c.text_sha256 = v.text_sha256
"""
_LATEST = _LATEST_OF.format(curator="GROUP BY text_sha256, uri")
_PER_CURATOR = "WHERE curator IS NOT NULL GROUP BY text_sha256, uri, curator"
_LATEST_PER_CURATOR = _LATEST_OF.format(curator=_PER_CURATOR)


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
    curator: str | None = None
    """Who gave it; None where the verdict named no curator (and in version-1 databases)."""
    model: str | None = None
    """The embedding model of the service it was given on; None: not recorded."""
    reranker: str | None = None
    """The cross-encoder of that service; None: none, or not recorded."""
    store_fingerprint: str | None = None
    """A digest of the skill store's fingerprint (how it was built); None: not recorded."""


@dataclass(frozen=True)
class GoldExport:
    """What `export_gold` wrote."""

    path: Path
    """The gold file."""
    courses: int
    """Lines written: courses with a verdict."""
    accepted: int
    """Accepted pairs, written as `relevant`."""
    rejected: int
    """Rejected pairs, written as `neg` (hard negatives for fine-tuning)."""
    rejected_only: int
    """Courses with rejected skills only (`"relevant": []`; evaluate and finetune skip them)."""
    curators: dict[str, int]
    """Pairs each named curator judged (their latest verdicts), by name."""
    agreement: Agreement
    """How far curators agree on the pairs two or more of them judged."""


def text_sha256(text: str) -> str:
    """Return the hex SHA-256 of a course text, stripped, as the store keys courses."""
    raw = text.strip().encode("utf-8", "surrogatepass")  # a text with lone surrogates too
    return hashlib.sha256(raw).hexdigest()


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


def _migrate(connection: sqlite3.Connection, path: Path) -> None:
    """Create the tables, or bring an older database to `_SCHEMA_VERSION`, in one transaction."""
    # IMMEDIATE: two processes opening a version-1 file at once add the column only once.
    connection.execute("BEGIN IMMEDIATE")
    version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    if version > _SCHEMA_VERSION:
        msg = (
            f"{str(path)!r} was written by a newer release (feedback schema {version}, "
            f"this one reads up to {_SCHEMA_VERSION}); upgrade langchain-course-skills"
        )
        raise FeedbackError(msg)
    columns = {row[1] for row in connection.execute("PRAGMA table_info(verdicts)")}
    if columns and "curator" not in columns:
        connection.execute(_ADD_CURATOR)
    for column in _FINGERPRINT_COLUMNS:
        if columns and column not in columns:
            connection.execute(_ADD_FINGERPRINT.format(column=column))
    for statement in _SCHEMA.split(";"):  # executescript would commit the transaction
        if statement.strip():
            connection.execute(statement)
    connection.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")


def _stored(row: tuple[Any, ...]) -> StoredVerdict:
    """The verdict of a `_LATEST_OF` row."""
    return StoredVerdict(row[0], row[1], *row[4:13])


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
                f"no feedback database at {str(self.path)!r}; curators' verdicts are recorded by "
                f"the service ({parameter('create_app')}) first, or pass the file it wrote as "
                f"{parameter('feedback_path')}"
            )
            raise FeedbackError(msg)
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._connect() as connection:
                # WAL is a property of the file: set once, every later connection uses it.
                connection.execute("PRAGMA journal_mode=WAL")
                _migrate(connection, self.path)
        except sqlite3.DatabaseError as exc:
            msg = (
                f"{str(self.path)!r} is not a feedback database ({exc}); pass another "
                f"{parameter('feedback_path')} or move the file away"
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
        curator: str | None = None,
        model: str | None = None,
        reranker: str | None = None,
        store_fingerprint: str | None = None,
    ) -> StoredVerdict:
        """Append a verdict on (course text, skill) and return it once it is on disk.

        `curator` names who gave it (blank: nobody named), for the export's per-curator
        verdicts and agreement. `model`, `reranker` and `store_fingerprint` say what proposed
        the skill (the service fills them in with its own).
        """
        if verdict not in VERDICTS:
            msg = f"verdict must be one of {VERDICTS}, got {verdict!r}"
            raise ValueError(msg)
        curator = (curator or "").strip() or None
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
                "relevance_score, evidence_start, evidence_end, created_at, curator, model, "
                "reranker, store_fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    curator,
                    model,
                    reranker,
                    store_fingerprint,
                ),
            )
            row_id = int(cursor.lastrowid or 0)
        return StoredVerdict(
            row_id,
            digest,
            uri,
            label,
            taxonomy,
            verdict,
            created,
            curator,
            model,
            reranker,
            store_fingerprint,
        )

    def verdicts(self, text: str) -> dict[str, Verdict]:
        """Return the latest verdict per skill id for one course text."""
        return {uri: stored.verdict for uri, stored in self.course_verdicts([text])[0].items()}

    def course_verdicts(self, texts: Sequence[str]) -> list[dict[str, StoredVerdict]]:
        """Return, for each course text, its latest verdict per skill id (one connection)."""
        query = _LATEST + " WHERE v.text_sha256 = ? ORDER BY v.id"
        with self._connect() as connection:
            return [
                {row[4]: _stored(row) for row in connection.execute(query, (text_sha256(text),))}
                for text in texts
            ]

    def judged_texts(self) -> set[str]:
        """Return the text sha256 of every course that has a verdict."""
        with self._connect() as connection:
            rows = connection.execute("SELECT DISTINCT text_sha256 FROM verdicts").fetchall()
        return {str(digest) for (digest,) in rows}

    def counts(self) -> dict[str, int]:
        """Return how many pairs are accepted and rejected now (latest verdicts)."""
        with self._connect() as connection:
            rows = connection.execute(
                f"SELECT verdict, COUNT(*) FROM ({_LATEST}) GROUP BY verdict"
            ).fetchall()
        found = dict(rows)
        return {verdict: int(found.get(verdict, 0)) for verdict in VERDICTS}

    def latest(
        self, *, per_curator: bool = False
    ) -> list[tuple[str, str | None, str, StoredVerdict]]:
        """Return (text sha256, course id, course text, verdict) for every pair, oldest first.

        Args:
            per_curator: The latest verdict of each named curator on each pair, instead of
                the latest verdict on each pair; verdicts without a curator are left out.
        """
        query = _LATEST_PER_CURATOR if per_curator else _LATEST
        with self._connect() as connection:
            rows = connection.execute(query + " ORDER BY v.id").fetchall()
        return [(row[1], row[2], row[3], _stored(row)) for row in rows]

    def course_page(
        self, *, limit: int, offset: int = 0
    ) -> tuple[int, list[tuple[str, str | None, str, int, int]]]:
        """Return the number of courses and one page of them, oldest first.

        Each course is (text sha256, course id, first seen, skills accepted, skills rejected),
        counted over the latest verdicts; the order (first seen, then text sha256) is stable,
        so walking the pages by `offset` visits every course once.
        """
        # The page first, then the latest verdicts of its courses only (by the pair index).
        page = """
            WITH page AS (
                SELECT text_sha256, course_id, first_seen FROM courses
                ORDER BY first_seen, text_sha256 LIMIT ? OFFSET ?
            ),
            latest AS (
                SELECT v.text_sha256, v.verdict FROM verdicts AS v
                JOIN (SELECT MAX(id) AS id FROM verdicts
                      WHERE text_sha256 IN (SELECT text_sha256 FROM page)
                      GROUP BY text_sha256, uri) AS last ON v.id = last.id
            )
            SELECT p.text_sha256, p.course_id, p.first_seen,
                   COUNT(CASE WHEN l.verdict = 'accepted' THEN 1 END),
                   COUNT(CASE WHEN l.verdict = 'rejected' THEN 1 END)
            FROM page AS p LEFT JOIN latest AS l ON l.text_sha256 = p.text_sha256
            GROUP BY p.text_sha256
            ORDER BY p.first_seen, p.text_sha256
        """
        with self._connect() as connection:
            total = int(connection.execute("SELECT COUNT(*) FROM courses").fetchone()[0])
            rows = connection.execute(page, (limit, offset)).fetchall()
        return total, [(row[0], row[1], row[2], int(row[3]), int(row[4])) for row in rows]


@dataclass
class _Course:
    course_id: str | None
    text: str
    relevant: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    curators: dict[str, dict[str, list[str]]] = field(default_factory=dict)


Row = tuple[str, str | None, str, StoredVerdict]  # what `FeedbackStore.latest` returns


def _courses(rows: list[Row], per_curator: list[Row]) -> dict[str, _Course]:
    """Group the latest verdicts by course, and each named curator's latest ones too."""
    courses: dict[str, _Course] = {}
    for digest, course_id, text, verdict in rows:
        course = courses.setdefault(digest, _Course(course_id, text))
        (course.relevant if verdict.verdict == "accepted" else course.rejected).append(verdict.uri)
    for digest, _, _, verdict in per_curator:
        if digest in courses and verdict.curator is not None:
            mine = courses[digest].curators.setdefault(verdict.curator, {})
            mine.setdefault(verdict.verdict, []).append(verdict.uri)
    return courses


def _gold_lines(courses: dict[str, _Course], negatives: bool) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    used: set[str] = set()
    for digest, course in courses.items():
        if not course.relevant and not (negatives and course.rejected):
            continue  # nothing to write: rejections only, and negatives left out
        query_id = course.course_id or f"text-{digest[:12]}"
        if query_id in used:  # one course id whose text changed: both versions are kept
            query_id = f"{query_id}-{digest[:8]}"
        used.add(query_id)
        line: dict[str, Any] = {"id": query_id, "query": course.text, "relevant": course.relevant}
        if negatives and course.rejected:
            line["neg"] = course.rejected
        if course.curators:
            line["curators"] = dict(sorted(course.curators.items()))
        lines.append(line)
    return lines


def _judgments(per_curator: list[Row]) -> dict[tuple[str, str], dict[str, Verdict]]:
    judged: dict[tuple[str, str], dict[str, Verdict]] = {}
    for digest, _, _, verdict in per_curator:
        if verdict.curator is not None:
            judged.setdefault((digest, verdict.uri), {})[verdict.curator] = verdict.verdict
    return judged


def _write_whole(target: Path, texts: list[str]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with partial.open("w", encoding="utf-8") as handle:
        handle.write("\n".join(texts) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(target)


def export_gold(
    store: FeedbackStore,
    out: str | Path,
    *,
    negatives: bool = True,
    curator: str | None = None,
) -> GoldExport:
    """Write the verdicts as a gold JSONL file that `evaluate` and `finetune` read.

    One line per course with a verdict: `{"id": ..., "query": "course text", "relevant":
    [accepted skill ids], "neg": [rejected skill ids], "curators": {name: {"accepted": [...],
    "rejected": [...]}}}`. The latest verdict on a pair counts; `neg` holds the course's
    rejected skills (both fine-tunings train on them as hard negatives; evaluation ignores
    them); `curators` holds each named curator's latest verdicts. A course with rejected skills
    only has `"relevant": []`: `evaluate` and `finetune` skip such a line. The report measures
    how far curators agree where two or more judged a pair. The file is written whole, then
    moved into place.

    Args:
        store: The feedback database.
        out: The gold file to write.
        negatives: Write rejected skills as `neg` (without it, courses with rejected skills
            only are left out).
        curator: Export only this curator's verdicts (their latest on each pair).

    Raises:
        FeedbackError: The store holds no verdict yet (by `curator`, if given).
    """
    from langchain_course_skills.evaluation.gold import parse_gold  # imports the store: late

    per_curator = store.latest(per_curator=True)
    rows = (
        store.latest() if curator is None else [r for r in per_curator if r[3].curator == curator]
    )
    if curator is not None and not rows:
        names = sorted({row[3].curator or "" for row in per_curator})
        msg = (
            f"{store.path.name} holds no verdict by curator {curator!r}; the curators it "
            f"knows are {names}: pass one of them, or export every curator's verdicts"
        )
        raise FeedbackError(msg)
    mine = per_curator if curator is None else rows
    lines = _gold_lines(_courses(rows, mine), negatives)
    if not lines:
        what = "verdict" if negatives else "accepted skill"
        msg = (
            f"{store.path.name} holds no {what} yet, so there is no gold line to write; "
            "accept or reject skills on the curator page (or POST /v1/feedback) first"
        )
        raise FeedbackError(msg)
    texts = [json.dumps(line, ensure_ascii=False) for line in lines]
    scored = [text for text, line in zip(texts, lines) if line["relevant"]]
    if scored:  # the reader `evaluate` uses must accept every line it scores
        parse_gold(scored, source=str(out))
    target = Path(out).expanduser()
    _write_whole(target, texts)
    counts: dict[str, int] = {}
    for row in mine:
        name = str(row[3].curator)
        counts[name] = counts.get(name, 0) + 1
    return GoldExport(
        path=target,
        courses=len(lines),
        accepted=sum(len(line["relevant"]) for line in lines),
        rejected=sum(len(line.get("neg", ())) for line in lines),
        rejected_only=sum(not line["relevant"] for line in lines),
        curators=dict(sorted(counts.items())),
        agreement=agreement(_judgments(per_curator)),
    )
