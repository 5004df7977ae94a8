"""The catalogue under review: its courses, their mapped skills, and who finished which course.

Curators review a whole catalogue course by course. The service holds one catalogue at a time,
in the feedback database's SQLite file (tables `review_*`, beside the verdicts), so that it
survives a restart and every worker process and curator sees the same one.

A catalogue is JSONL, one course per line, read by `courses.read_courses` exactly as
`course-skills map` reads it (`id`, and `text` or `title` + `description`), so a course's text
here is the text it was mapped from and the text its verdicts belong to. A line may carry the
`skills` it was mapped to; or a `course-skills map` output (JSONL or CSV, which have no text)
comes with it and is joined by id, each course's `text_hash` checked against its catalogue
text.

A course is *reviewed* once a curator marked it done (`ReviewStore.mark_done`); for one curator,
once that curator did. Verdicts alone do not finish a course: a curator may leave a proposed
skill unjudged on purpose. A changed text is a new course, with nobody's mark on it.

Example:
    >>> courses = read_catalogue(catalogue_jsonl, mapped=map_output_jsonl)
    >>> store = ReviewStore("skills-db-feedback.sqlite3")
    >>> store.replace(courses, name="catalogue.jsonl").courses
    20
    >>> store.mark_done(store.course("K-1"), "ana")
    ['ana']
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from langchain_course_skills._jsonl import json_objects
from langchain_course_skills.courses import (
    DEFAULT_TEXT_COLUMNS,
    Course,
    CourseFailure,
    read_courses,
    text_hash,
)
from langchain_course_skills.errors import CourseSkillsError, MapOutputError
from langchain_course_skills.feedback import BUSY_TIMEOUT_MS, text_sha256
from langchain_course_skills.mapping.output import is_csv_output, read_csv_output

Status = Literal["open", "reviewed", "all"]
MAX_REVIEW_COURSES = 20_000  # courses of one catalogue held for review
MAX_SKILLS_PER_COURSE = 200  # as many as one search may return (MAX_K)
SHOWN_FAILURES = 3  # unusable courses named in one error message
# A course's text by default: `title` and `description` joined, as `course-skills map` reads
# them, or `text` for a line that has one instead (the curator page's catalogues).
REVIEW_TEXT_COLUMNS = (*DEFAULT_TEXT_COLUMNS, "text")
# The keys of a mapped skill that are kept: those `SkillHit.to_record` writes, but `verdict`,
# which is read from the feedback store when the course is shown.
_SKILL_KEYS = (
    "rank",
    "uri",
    "label",
    "taxonomy",
    "similarity",
    "relevance_score",
    "text",
    "evidence",
    "matched_view",
    "matched_text",
    "fused_score",
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS review_catalogue (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL,
    uploaded_at TEXT NOT NULL,
    courses INTEGER NOT NULL,
    mapped INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS review_courses (
    position INTEGER PRIMARY KEY,
    course_id TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    skills TEXT,
    skill_count INTEGER,
    best_score REAL
);
CREATE TABLE IF NOT EXISTS review_done (
    text_sha256 TEXT NOT NULL,
    course_id TEXT NOT NULL,
    curator TEXT NOT NULL,
    done_at TEXT NOT NULL,
    PRIMARY KEY (text_sha256, course_id, curator)
);
"""
# Each course of the catalogue with who marked it done, and whether it counts as reviewed
# (by :curator, or by anyone where :curator is null), kept if its best score passes :min_score.
_MARKED = """
WITH marked AS (
    SELECT c.position, c.course_id, c.text, c.skill_count, c.best_score,
           (SELECT json_group_array(curator) FROM (
                SELECT d.curator FROM review_done AS d
                WHERE d.text_sha256 = c.text_sha256 AND d.course_id = c.course_id
                ORDER BY d.done_at, d.curator)) AS curators,
           EXISTS (SELECT 1 FROM review_done AS d
                   WHERE d.text_sha256 = c.text_sha256 AND d.course_id = c.course_id
                   AND (:curator IS NULL OR d.curator = :curator)) AS reviewed
    FROM review_courses AS c
    WHERE :min_score IS NULL OR c.skill_count IS NULL OR c.best_score >= :min_score
)
"""
_WHERE_STATUS = "WHERE :status = 'all' OR reviewed = (:status = 'reviewed')"


class ReviewError(CourseSkillsError, ValueError):
    """An uploaded catalogue or map output that cannot be reviewed; `field` names the part."""

    def __init__(self, message: str, field: str = "catalogue") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ReviewCourse:
    """One course of the catalogue under review."""

    position: int
    """1 for the catalogue's first course."""
    id: str
    """Its id in the catalogue."""
    text: str
    """Its text, exactly as `course-skills map` read it."""
    skills: list[dict[str, Any]] | None
    """The skills it was mapped to, best first; None: not mapped (search it)."""

    @property
    def text_sha256(self) -> str:
        """The key of its verdicts in the feedback store."""
        return text_sha256(self.text)

    @property
    def best_score(self) -> float | None:
        """The best score of its skills (relevance where re-ranked, else similarity)."""
        scores = [score for skill in self.skills or () if (score := skill_score(skill)) is not None]
        return max(scores) if scores else None


@dataclass(frozen=True)
class CatalogueSummary:
    """What the held catalogue is."""

    name: str
    """The file name it was uploaded as."""
    uploaded_at: str
    """When (ISO 8601, UTC)."""
    courses: int
    """Courses in it."""
    mapped: int
    """Courses with mapped skills."""


@dataclass(frozen=True)
class CourseRow:
    """One course of a page of the catalogue."""

    position: int
    """1 for the catalogue's first course."""
    id: str
    """Its id."""
    text: str
    """Its text (to count its verdicts)."""
    skills: int | None
    """Mapped skills; None: not mapped."""
    best_score: float | None
    """The best score of its mapped skills."""
    reviewed: bool
    """Marked done (by the curator asked about, or by anyone)."""
    reviewed_by: list[str]
    """Every curator who marked it done, first first."""


@dataclass(frozen=True)
class CoursePage:
    """A page of the catalogue and the counts that go with it."""

    rows: list[CourseRow]
    """At most `limit` courses, in catalogue order."""
    total: int
    """Courses that match the status and score filter."""
    courses: int
    """Courses in the catalogue."""
    reviewed: int
    """Courses of the catalogue reviewed (by the curator asked about, or by anyone)."""


def skill_score(skill: Mapping[str, Any]) -> float | None:
    """The score a skill is filtered by: its relevance where re-ranked, else its similarity."""
    for key in ("relevance_score", "similarity"):
        value = skill.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _number(value: object, where: str, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        msg = f"{where}: {key} must be a number or null, got {value!r:.40}"
        raise ReviewError(msg)
    return float(value)


def _evidence(value: object, text: str, where: str) -> dict[str, int] | None:
    if value is None:
        return None
    start = value.get("start") if isinstance(value, dict) else None
    end = value.get("end") if isinstance(value, dict) else None
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= len(text)):
        msg = (
            f"{where}: evidence {value!r:.60} is not a passage of the course text "
            f"({len(text)} characters); upload the catalogue the skills were mapped from"
        )
        raise ReviewError(msg)
    return {"start": start, "end": end}


def _skills(raw: object, text: str, where: str) -> list[dict[str, Any]]:
    """The mapped skills of one course, checked, with the keys the page shows."""
    if not isinstance(raw, list) or len(raw) > MAX_SKILLS_PER_COURSE:
        msg = f"{where}: skills must be a list of at most {MAX_SKILLS_PER_COURSE} skills"
        raise ReviewError(msg)
    skills = []
    for rank, skill in enumerate(raw, start=1):
        at = f"{where}, skill {rank}"
        uri = skill.get("uri") if isinstance(skill, dict) else None
        if not isinstance(uri, str) or not uri.strip():
            msg = f"{at}: a skill needs a `uri` (its id in the store)"
            raise ReviewError(msg)
        kept = {key: skill[key] for key in _SKILL_KEYS if skill.get(key) is not None}
        label = str(kept.get("label") or uri)
        kept.update(rank=rank, uri=uri, label=label, taxonomy=str(kept.get("taxonomy") or ""))
        kept["text"] = str(kept.get("text") or label)
        for key in ("similarity", "relevance_score", "fused_score"):
            kept[key] = _number(kept.get(key), at, key)
        kept["evidence"] = _evidence(kept.get("evidence"), text, at)
        skills.append(kept)
    return skills


def _looks_mapped(record: Mapping[str, Any], columns: Sequence[str]) -> bool:
    """Whether a catalogue line is a `course-skills map` record: a text hash, no text."""
    return "text_hash" in record and not any(column in record for column in columns)


def _read_courses(catalogue: str, columns: Sequence[str], name: str) -> list[Course]:
    """The courses of a catalogue, read by the library's one catalogue reader."""
    with tempfile.TemporaryDirectory(prefix="course-skills-review-") as folder:
        path = Path(folder) / name
        path.write_text(catalogue, encoding="utf-8", errors="surrogatepass")
        found = list(read_courses(path, text_columns=columns, input_format="jsonl"))
    failures = [item for item in found if isinstance(item, CourseFailure)]
    if failures:
        shown = "; ".join(str(failure) for failure in failures[:SHOWN_FAILURES])
        extra = len(failures) - SHOWN_FAILURES
        more = f" (and {extra} more)" if extra > 0 else ""
        msg = (
            f"{len(failures)} course(s) of the catalogue cannot be reviewed: {shown}{more}; "
            "fix them and upload it again"
        )
        raise ReviewError(msg)
    return [item for item in found if isinstance(item, Course)]


def _join(courses: dict[str, Course], mapped: str) -> dict[str, list[dict[str, Any]]]:
    """The skills of each course of a map output, checked against the catalogue's texts."""
    skills: dict[str, list[dict[str, Any]]] = {}
    records: Iterable[tuple[int, dict[str, Any]]]
    if is_csv_output(mapped):
        try:
            records = read_csv_output(mapped, "mapped")
        except MapOutputError as exc:
            raise ReviewError(str(exc), "mapped") from exc
    else:
        records = json_objects(mapped.split("\n"), "mapped", ReviewError)
    for number, record in records:
        where = f"mapped, line {number}"
        course_id = str(record.get("id") or "").strip()
        if not course_id or "text_hash" not in record:
            msg = f"{where}: not a `course-skills map` record (id, text_hash, skills)"
            raise ReviewError(msg, "mapped")
        course = courses.get(course_id)
        if course is None:
            msg = (
                f"{where}: course {course_id!r} is not in the catalogue; upload the catalogue "
                "that was mapped"
            )
            raise ReviewError(msg, "mapped")
        if str(record["text_hash"]) != text_hash(course.text):
            msg = (
                f"{where}: course {course_id!r} was mapped from another text than the "
                "catalogue's (text_hash differs); upload the catalogue that was mapped, with "
                "the text_columns given to `course-skills map`, or map it again"
            )
            raise ReviewError(msg, "mapped")
        if "skills" in record:  # a course that failed to map has `error` instead: unmapped
            try:
                skills[course_id] = _skills(record["skills"], course.text, where)
            except ReviewError as exc:
                raise ReviewError(str(exc), "mapped") from exc
    return skills


def read_catalogue(
    catalogue: str,
    mapped: str | None = None,
    *,
    text_columns: Sequence[str] | None = None,
    name: str = "catalogue.jsonl",
    max_text_chars: int | None = None,
) -> list[ReviewCourse]:
    """Read a catalogue (JSONL) and, optionally, the `course-skills map` output of it.

    Args:
        catalogue: One course per line: `id` and the text columns, optionally `skills` as
            `course-skills map` writes them.
        mapped: A `course-skills map` output of this catalogue, JSONL (id, text_hash, skills)
            or CSV (with its header): its skills replace those of the catalogue's lines.
        text_columns: The fields joined into a course's text (with a blank line); default:
            `title`, `description` and `text`, those a line has.
        name: The catalogue's file name, for messages.
        max_text_chars: Refuse courses longer than this (the texts a verdict may carry).

    Raises:
        ReviewError: The catalogue is empty, too large, a map output without its catalogue,
            or has an unusable course; or the map output does not belong to it.
    """
    records = list(json_objects(catalogue.split("\n"), name, ReviewError))
    if not records:
        msg = "the catalogue holds no course; send one JSON object per line (id and text)"
        raise ReviewError(msg)
    if len(records) > MAX_REVIEW_COURSES:
        msg = f"the catalogue has {len(records):,} courses; review at most {MAX_REVIEW_COURSES:,}"
        raise ReviewError(msg)
    first = records[0][1]
    columns = tuple(text_columns or REVIEW_TEXT_COLUMNS)
    if _looks_mapped(first, columns):
        msg = (
            f"{name}, line {records[0][0]} is a `course-skills map` output (id, text_hash, "
            "skills), which has no course text; upload the catalogue it was mapped from as "
            "`catalogue` too, with this file as `mapped`"
        )
        raise ReviewError(msg)
    courses = _read_courses(catalogue, columns, Path(name).name or "catalogue.jsonl")
    by_id = {course.id: course for course in courses}
    if max_text_chars is not None:
        for course in courses:
            if len(course.text) > max_text_chars:
                msg = (
                    f"{name}, line {course.line}, course {course.id!r}: its text has "
                    f"{len(course.text):,} characters, more than a verdict may carry "
                    f"({max_text_chars:,}); shorten it in the catalogue"
                )
                raise ReviewError(msg)
    own = {
        str(record.get("id")).strip(): (number, record["skills"])
        for number, record in records
        if "skills" in record and str(record.get("id") or "").strip() in by_id
    }
    skills = {
        course_id: _skills(raw, by_id[course_id].text, f"{name}, line {number}")
        for course_id, (number, raw) in own.items()
    }
    if mapped is not None:
        skills.update(_join(by_id, mapped))
    return [
        ReviewCourse(position, course.id, course.text, skills.get(course.id))
        for position, course in enumerate(courses, start=1)
    ]


class ReviewStore:
    """The catalogue under review, in the feedback database's SQLite file.

    Each call opens its own connection (WAL mode, set by the `FeedbackStore` of the same
    file), so one store serves every thread, and several processes share the file.
    """

    def __init__(self, path: str | Path) -> None:
        """Open the tables in the SQLite file at `path` (create them where missing)."""
        self.path = Path(path).expanduser()
        with self._connect() as connection:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            connection.execute("PRAGMA synchronous=FULL")  # on disk before the answer
            connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            with connection:
                yield connection
        finally:
            connection.close()

    def replace(self, courses: Sequence[ReviewCourse], *, name: str) -> CatalogueSummary:
        """Hold `courses` for review instead of the catalogue held so far, in one transaction.

        Curators' done marks stay: a course with the same id and text is still reviewed.
        """
        summary = CatalogueSummary(
            name=name,
            uploaded_at=_now(),
            courses=len(courses),
            mapped=sum(course.skills is not None for course in courses),
        )
        rows = [
            (
                course.position,
                course.id,
                course.text,
                course.text_sha256,
                None if course.skills is None else json.dumps(course.skills, ensure_ascii=False),
                None if course.skills is None else len(course.skills),
                course.best_score,
            )
            for course in courses
        ]
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("DELETE FROM review_courses")
            connection.executemany("INSERT INTO review_courses VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            connection.execute(
                "INSERT OR REPLACE INTO review_catalogue VALUES (1, ?, ?, ?, ?)",
                (summary.name, summary.uploaded_at, summary.courses, summary.mapped),
            )
        return summary

    def summary(self) -> CatalogueSummary | None:
        """Return what the held catalogue is, or None where none was uploaded."""
        with self._connect() as connection:
            row = connection.execute(
                "SELECT name, uploaded_at, courses, mapped FROM review_catalogue"
            ).fetchone()
        return None if row is None else CatalogueSummary(*row)

    def page(
        self,
        *,
        status: Status = "all",
        curator: str | None = None,
        min_score: float | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> CoursePage:
        """Return a page of the catalogue's courses, in catalogue order.

        Args:
            status: open (not reviewed), reviewed, or all.
            curator: Reviewed means marked done by this curator; None: by anyone.
            min_score: Only courses with a mapped skill scoring at least this (unmapped
                courses, whose score is unknown until they are searched, are kept).
            limit: Courses per page.
            offset: Courses of the filtered list to skip.
        """
        values = {"curator": curator, "min_score": min_score, "status": status}
        with self._connect() as connection:
            rows = connection.execute(
                _MARKED + f"SELECT * FROM marked {_WHERE_STATUS} "
                "ORDER BY position LIMIT :limit OFFSET :offset",
                {**values, "limit": limit, "offset": offset},
            ).fetchall()
            total = connection.execute(
                _MARKED + f"SELECT COUNT(*) FROM marked {_WHERE_STATUS}", values
            ).fetchone()[0]
            courses, reviewed = connection.execute(
                _MARKED + "SELECT COUNT(*), COALESCE(SUM(reviewed), 0) FROM marked",
                {**values, "min_score": None},
            ).fetchone()
        return CoursePage(
            rows=[
                CourseRow(
                    position=row[0],
                    id=row[1],
                    text=row[2],
                    skills=row[3],
                    best_score=row[4],
                    reviewed=bool(row[6]),
                    reviewed_by=list(json.loads(row[5])),
                )
                for row in rows
            ],
            total=int(total),
            courses=int(courses),
            reviewed=int(reviewed),
        )

    def course(self, course_id: str) -> ReviewCourse | None:
        """Return the course with this id, or None where the catalogue has none."""
        with self._connect() as connection:
            row = connection.execute(
                "SELECT position, course_id, text, skills FROM review_courses WHERE course_id = ?",
                (course_id,),
            ).fetchone()
        if row is None:
            return None
        return ReviewCourse(row[0], row[1], row[2], None if row[3] is None else json.loads(row[3]))

    def reviewed_by(self, course: ReviewCourse) -> list[str]:
        """Return the curators who marked this course (id and text) done, first first."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT curator FROM review_done WHERE text_sha256 = ? AND course_id = ? "
                "ORDER BY done_at, curator",
                (course.text_sha256, course.id),
            ).fetchall()
        return [str(row[0]) for row in rows]

    def mark_done(self, course: ReviewCourse, curator: str, *, done: bool = True) -> list[str]:
        """Mark `course` reviewed by `curator` (or, with `done` False, not any more).

        Returns:
            The curators who marked it done now.
        """
        with self._connect() as connection:
            if done:
                connection.execute(
                    "INSERT OR IGNORE INTO review_done VALUES (?, ?, ?, ?)",
                    (course.text_sha256, course.id, curator, _now()),
                )
            else:
                connection.execute(
                    "DELETE FROM review_done WHERE text_sha256 = ? AND course_id = ? "
                    "AND curator = ?",
                    (course.text_sha256, course.id, curator),
                )
        return self.reviewed_by(course)
