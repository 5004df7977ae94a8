"""The output file of a mapping run: appended per batch, resumable, one record per course.

A record is one JSONL line, or a group of CSV rows (one per skill) that carry the number of
skills so that a group cut short by a kill is recognised. Opening the file reads which courses
it holds (id and text hash of each one's last complete record) and cuts a partial last line;
closing it rewrites the file atomically when it holds superseded or broken records, so that a
finished run leaves exactly one record per course.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from langchain_course_skills.errors import MapOutputError, parameter
from langchain_course_skills.mapping.options import OutputFormat

logger = logging.getLogger(__name__)

CSV_COLUMNS = (
    "id",
    "text_hash",
    "skills",  # how many skills the course has: the rows of one course
    "rank",
    "uri",
    "label",
    "taxonomy",
    "similarity",
    "relevance_score",
    "evidence_start",
    "evidence_end",
    "fused_score",  # empty for a course read whole
    "verdict",  # a curator's verdict on the skill for this course text; empty: none
)
# Headers of earlier versions, and what they lack: such a file is refused with its own reason.
_EARLIER_HEADERS = {
    CSV_COLUMNS[:-2]: "the fused_score and verdict columns",
    CSV_COLUMNS[:-1]: "the verdict column",
}
_SKILL_COLUMNS = CSV_COLUMNS[3:]
_COMPACTING = ".compacting"  # suffix of the file a compaction writes before it replaces


def output_format(path: Path, given: OutputFormat | None) -> OutputFormat:
    """Return the format named, or the one of the file's suffix (.jsonl or .csv)."""
    if given is not None:
        return given
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    msg = f"cannot tell the output format of {path.name!r}; name it .jsonl or .csv, or pass it"
    raise MapOutputError(msg)


def _csv_line(values: Sequence[object]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue().encode("utf-8")


def _one_line(value: object) -> object:
    # One CSV row per physical line, so that a cut line is recognised without a CSV parser.
    return " ".join(value.splitlines()) if isinstance(value, str) else value


def encode_record(record: dict[str, Any], fmt: OutputFormat) -> bytes:
    """Return the bytes of one course's record: a JSONL line, or its CSV rows."""
    if fmt == "jsonl":
        return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    head = [record["id"], record["text_hash"], len(record["skills"])]
    if not record["skills"]:
        return _csv_line([_one_line(v) for v in head + [""] * len(_SKILL_COLUMNS)])
    rows = []
    for skill in record["skills"]:
        evidence = skill.get("evidence") or {}
        values = [
            skill["rank"],
            skill["uri"],
            skill["label"],
            skill["taxonomy"],
            skill["similarity"],
            "" if skill["relevance_score"] is None else skill["relevance_score"],
            evidence.get("start", ""),
            evidence.get("end", ""),
            skill.get("fused_score", ""),
            skill.get("verdict", ""),
        ]
        rows.append(_csv_line([_one_line(v) for v in head + values]))
    return b"".join(rows)


Key = tuple[str, str]  # (course id, text hash) of a complete record
Record = tuple[Key | None, bytes]  # None: a record that is broken or cut short


def _jsonl_records(lines: Iterator[bytes]) -> Iterator[Record]:
    for line in lines:
        try:
            record = json.loads(line)
            valid = isinstance(record["skills"], list)
            key = (str(record["id"]), str(record["text_hash"]))
        except (ValueError, KeyError, TypeError):
            valid = False
        yield (key if valid else None), line


def _csv_rows(lines: Iterator[bytes]) -> Iterator[tuple[tuple[str, str, int, str] | None, bytes]]:
    for line in lines:
        try:
            row = next(csv.reader([line.decode("utf-8")]))
            yield (row[0], row[1], int(row[2]), row[3]), line
        except (ValueError, IndexError, StopIteration):
            yield None, line


def _csv_records(lines: Iterator[bytes], name: str) -> Iterator[Record]:
    """Group the rows of each course: they share id and hash, and the first has rank 1."""
    header = next(lines, None)
    for columns, lacking in _EARLIER_HEADERS.items():
        if header == _csv_line(columns):
            msg = (
                f"{name} was written by an earlier version of {parameter('map_courses')}, without "
                f"{lacking}; map into a new file or overwrite it"
            )
            raise MapOutputError(msg)
    if header is not None and header != _csv_line(CSV_COLUMNS):
        msg = (
            f"{name} is not an output of {parameter('map_courses')} (its header is "
            f"{header.decode('utf-8', 'replace').strip()!r}); choose a new file or overwrite it"
        )
        raise MapOutputError(msg)
    group: list[bytes] = []
    head: tuple[str, str, int, str] | None = None
    for row, line in _csv_rows(lines):
        starts = row is None or row[3] in ("1", "") or head is None or row[:3] != head[:3]
        if group and starts:
            yield _csv_group(head, group)
            group = []
        if row is None:
            yield None, line
            continue
        if starts:
            head = row
        group.append(line)
    if group:
        yield _csv_group(head, group)


def _csv_group(head: tuple[str, str, int, str] | None, rows: list[bytes]) -> Record:
    complete = head is not None and len(rows) == max(1, head[2])
    return ((head[0], head[1]) if head is not None and complete else None), b"".join(rows)


def _lines(handle: BinaryIO) -> Iterator[bytes]:
    """Yield complete lines; stop before a last line without a newline."""
    for line in handle:
        if not line.endswith(b"\n"):
            return
        yield line


class MapOutput:
    """An output file that knows which courses it holds and takes records batch by batch."""

    def __init__(self, path: Path, fmt: OutputFormat, *, overwrite: bool = False) -> None:
        self.path = path
        self.format = fmt
        self.done: dict[str, str] = {}
        """Course id -> text hash of its last complete record."""
        self.superseded = 0
        """Records that a later record of the same course, or a compaction, will replace."""
        self._handle: BinaryIO | None = None
        if overwrite and path.exists():
            path.unlink()
        self._scan()

    def _records(self, handle: BinaryIO) -> Iterator[Record]:
        lines = _lines(handle)
        if self.format == "jsonl":
            return _jsonl_records(lines)
        return _csv_records(lines, self.path.name)

    def _scan(self) -> None:
        if not self.path.exists():
            return
        header = _csv_line(CSV_COLUMNS) if self.format == "csv" else b""
        with self.path.open("rb") as handle:
            end = good = len(header) if header and handle.read(len(header)) == header else 0
            handle.seek(0)
            kept = 0  # records up to the last complete one
            for records, (key, raw) in enumerate(self._records(handle), start=1):
                end += len(raw)
                if key is not None:
                    self.done[key[0]] = key[1]
                    good, kept = end, records
            size = handle.seek(0, os.SEEK_END)
        if good < size:
            self._cut(good, size)
        self.superseded = kept - len(self.done)  # duplicates, and broken records before the end
        if self.superseded:
            logger.info("%s: %d superseded or broken records", self.path.name, self.superseded)

    def _cut(self, end: int, size: int) -> None:
        """Cut what a killed run left after the last complete record: a partial line or group."""
        with self.path.open("r+b") as handle:
            handle.truncate(end)
        logger.warning(
            "%s: removed %d bytes after the last complete record, left by an interrupted run",
            self.path.name,
            size - end,
        )

    def forget(self, course_id: str) -> None:
        """Note that a course's record is to be replaced by a new one."""
        if course_id in self.done:
            self.superseded += 1

    def append(self, records: Sequence[dict[str, Any]]) -> None:
        """Write the records of one batch and flush them to the operating system."""
        if self._handle is None:
            new = not self.path.exists() or self.path.stat().st_size == 0
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("ab")
            if new and self.format == "csv":
                self._handle.write(_csv_line(CSV_COLUMNS))
        self._handle.write(b"".join(encode_record(record, self.format) for record in records))
        self._handle.flush()
        for record in records:
            self.done[str(record["id"])] = str(record["text_hash"])

    def close(self) -> None:
        """Close the file; rewrite it with one record per course if it holds more."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self.superseded:
            self._compact()

    def _compact(self) -> None:
        last: dict[str, int] = {}
        with self.path.open("rb") as handle:
            for index, (key, _) in enumerate(self._records(handle)):
                if key is not None:
                    last[key[0]] = index
        keep = set(last.values())
        target = self.path.with_name(self.path.name + _COMPACTING)
        with self.path.open("rb") as handle, target.open("wb") as out:
            if self.format == "csv":
                out.write(_csv_line(CSV_COLUMNS))
            for index, (key, raw) in enumerate(self._records(handle)):
                if key is not None and index in keep:
                    out.write(raw)
            out.flush()
            os.fsync(out.fileno())
        os.replace(target, self.path)  # atomic: a kill leaves the old file or the new one
        logger.info("%s: rewrote with one record per course (%d)", self.path.name, len(keep))
        self.superseded = 0


def is_csv_output(text: str) -> bool:
    """Whether `text` begins with the header of a CSV output of `map_courses`."""
    return text.startswith(_csv_line(CSV_COLUMNS).decode("utf-8"))


def _number(value: str, where: str) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        msg = f"{where}: {value!r} is not a number; give the CSV output as map_courses wrote it"
        raise MapOutputError(msg) from None


def read_csv_output(text: str, name: str) -> list[tuple[int, dict[str, Any]]]:
    """The records of a CSV output of `map_courses`, as its JSONL output holds them.

    Returns (line number of the course's first row, record) per course: `id`, `text_hash` and
    `skills` (`rank`, `uri`, `label`, `taxonomy`, `similarity`, `relevance_score`, and
    `evidence`, `fused_score`, `verdict` where the row has them).

    Raises:
        MapOutputError: `text` is not such an output, or a course's rows are incomplete.
    """
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header != list(CSV_COLUMNS):
        msg = f"{name} is not a CSV output of {parameter('map_courses')} (its header differs)"
        raise MapOutputError(msg)
    records: list[tuple[int, dict[str, Any]]] = []
    expected = 0
    for number, row in enumerate(rows, start=2):
        if not any(row):
            continue
        where = f"{name}, line {number}"
        if len(row) != len(CSV_COLUMNS):
            msg = f"{where}: {len(row)} columns, not {len(CSV_COLUMNS)}"
            raise MapOutputError(msg)
        values = dict(zip(CSV_COLUMNS, row))
        if not expected:
            expected = int(values["skills"]) if values["skills"].isdigit() else -1
            if expected < 0:
                msg = f"{where}: the skills column must be a count, got {values['skills']!r}"
                raise MapOutputError(msg)
            record = {"id": values["id"], "text_hash": values["text_hash"], "skills": []}
            records.append((number, record))
            if expected == 0:
                continue
        skills = records[-1][1]["skills"]
        if (values["id"], values["text_hash"]) != (
            records[-1][1]["id"],
            records[-1][1]["text_hash"],
        ):
            msg = (
                f"{where}: course {records[-1][1]['id']!r} has {len(skills)} of its {expected} rows"
            )
            raise MapOutputError(msg)
        skill: dict[str, Any] = {
            "rank": int(_number(values["rank"], where) or 0),
            "uri": values["uri"],
            "label": values["label"],
            "taxonomy": values["taxonomy"],
            "similarity": _number(values["similarity"], where),
            "relevance_score": _number(values["relevance_score"], where),
        }
        if values["evidence_start"] and values["evidence_end"]:
            start, end = (
                _number(values["evidence_start"], where),
                _number(values["evidence_end"], where),
            )
            skill["evidence"] = {"start": int(start or 0), "end": int(end or 0)}
        if values["fused_score"]:
            skill["fused_score"] = _number(values["fused_score"], where)
        if values["verdict"]:
            skill["verdict"] = values["verdict"]
        skills.append(skill)
        expected -= 1
    if expected > 0:
        msg = f"{name}: course {records[-1][1]['id']!r} lacks {expected} of its rows"
        raise MapOutputError(msg)
    return records
