"""Read a course catalogue: CSV, JSONL, standard input, or a folder of `.txt` files.

A course that cannot be mapped (no id, an empty text, bytes that are not UTF-8, a line that is
not JSON, an id seen before) comes back as a `CourseFailure` naming its line, so that one bad
record never stops a catalogue. A catalogue that cannot be read at all (a missing file, no id
column) raises a `CourseInputError`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langchain_course_skills.errors import CourseInputError, parameter, spell
from langchain_course_skills.vocabulary import lone_surrogate

DEFAULT_ID_COLUMN = "id"
DEFAULT_TEXT_COLUMNS = ("title", "description")  # joined into one course text
TEXT_SEPARATOR = "\n\n"  # between the text columns of a course: a paragraph break
HASH_CHARS = 16  # hex digits of a text's SHA-256 kept in the output (64 bits)
InputFormat = Literal["csv", "jsonl", "txt"]
_SUFFIXES: dict[str, InputFormat] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True)
class Course:
    """One course to map."""

    id: str
    """Its unique id in the catalogue."""
    text: str
    """The text the skills are found in (the text columns joined)."""
    line: int | None = None
    """The line of the catalogue where its record starts (None for a `.txt` file)."""
    source: str | None = field(default=None, compare=False)
    """The catalogue's file name (or "-" for standard input), to say where a failure is."""

    @property
    def text_hash(self) -> str:
        """A short SHA-256 of the text: a changed text gets mapped again."""
        return text_hash(self.text)


@dataclass(frozen=True)
class CourseFailure:
    """A course that cannot be mapped, and why."""

    source: str
    """The catalogue's file name (or "-" for standard input)."""
    line: int | None
    """Its line in the catalogue (None for a `.txt` file)."""
    id: str | None
    """Its id, if it has one."""
    reason: str
    """What is wrong and what to do."""

    def __str__(self) -> str:
        return self.explain_for({})

    def explain_for(self, options: Mapping[str, str]) -> str:
        """Return where and why, with parameters spelled as a face names them (`spell`)."""
        where = self.source if self.line is None else f"{self.source}, line {self.line}"
        course = "" if self.id is None else f", course {self.id!r}"
        return f"{where}{course}: {spell(self.reason, options)}"


def text_hash(text: str) -> str:
    """Return the first `HASH_CHARS` hex digits of the SHA-256 of `text`."""
    raw = text.encode("utf-8", "surrogatepass")  # a text with lone surrogates has a hash too
    return hashlib.sha256(raw).hexdigest()[:HASH_CHARS]


def _bad_bytes(values: Iterable[str]) -> str | None:
    """Describe the first byte that was not UTF-8 (decoded with surrogateescape), if any."""
    for value in values:
        for char in value:
            if "\udc80" <= char <= "\udcff":
                return f"{ord(char) - 0xDC00:#04x}"
    return None


def _printable(value: str) -> str:
    """`value` with undecodable bytes and lone surrogates shown as U+FFFD."""
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that was no byte (a JSON escape)
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return raw.decode("utf-8", "replace")


def _record(
    fields: dict[str, Any], line: int | None, source: str, id_column: str, columns: Sequence[str]
) -> Course | CourseFailure:
    """Turn one record into a course, or a failure that says what is wrong with it."""
    raw_id = fields.get(id_column)
    course_id = "" if raw_id is None else str(raw_id).strip()
    strings = [course_id] + [str(fields.get(c) or "") for c in columns]
    bad = _bad_bytes(strings)
    if bad is not None:
        reason = f"not UTF-8 text (byte {bad}); save the catalogue as UTF-8"
        return CourseFailure(source, line, _printable(course_id) or None, reason)
    surrogate = next(filter(None, map(lone_surrogate, strings)), None)
    if surrogate is not None:
        reason = f"not valid text ({surrogate}); fix the escape in the catalogue"
        return CourseFailure(source, line, _printable(course_id) or None, reason)
    if not course_id:
        reason = f"no id (column {id_column!r} is empty or missing); give every course an id"
        return CourseFailure(source, line, None, reason)
    parts = [str(fields[c]).strip() for c in columns if fields.get(c) is not None]
    text = TEXT_SEPARATOR.join(part for part in parts if part)
    if not text:
        reason = f"the text is empty (columns {list(columns)}); fill them or leave the course out"
        return CourseFailure(source, line, course_id, reason)
    return Course(id=course_id, text=text, line=line, source=source)


def _text_columns(header: Sequence[str], columns: Sequence[str], source: str) -> list[str]:
    present = [column for column in columns if column in header]
    if not present:
        msg = (
            f"{source} has none of the text columns {list(columns)} (it has {list(header)}); "
            f"name yours with {parameter('text_columns', repr(['text']))}"
        )
        raise CourseInputError(msg)
    return present


def _csv_courses(
    text: str, source: str, id_column: str, columns: Sequence[str]
) -> Iterator[Course | CourseFailure]:
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)  # see loaders._read_csv
    try:
        header = reader.fieldnames
    except csv.Error as exc:
        msg = f"{source}: cannot read the CSV header ({exc}); save it as CSV with a header row"
        raise CourseInputError(msg) from exc
    if not header:
        msg = f"{source} is empty; it needs a header row with {id_column!r} and text columns"
        raise CourseInputError(msg)
    if id_column not in header:
        msg = (
            f"{source} has no id column {id_column!r} (it has {list(header)}); "
            f"name yours with {parameter('id_column')}"
        )
        raise CourseInputError(msg)
    present = _text_columns(header, columns, source)
    end = reader.line_num  # the last line of the last row read
    broken: tuple[int, csv.Error] | None = None  # a row that did not parse: its line, error
    while True:
        try:
            row = next(reader)
        except StopIteration:
            if broken:
                yield _broken_row(source, *broken, reader.line_num)
            return
        except csv.Error as exc:
            if broken:
                yield _broken_row(source, *broken, broken[0])
            broken = (end + 1, exc)
            continue
        # A row's first line: its last, less the line breaks inside its quoted cells.
        line = reader.line_num - sum(str(v).count("\n") for v in row.values() if v is not None)
        if broken:
            yield _broken_row(source, *broken, line - 1)
            broken = None
        end = reader.line_num
        if None in row:
            reason = "more fields than the header has columns; quote fields with commas"
            yield CourseFailure(source, line, str(row.get(id_column) or "") or None, reason)
        else:
            yield _record(row, line, source, id_column, present)


def _broken_row(source: str, line: int, exc: csv.Error, last: int) -> CourseFailure:
    lines = f" (lines {line}-{last} were read into it)" if last > line else ""
    reason = (
        f'not a CSV row: {exc}{lines}; a quote (") opens a cell that is not closed where the '
        'cell ends: quote the whole cell and double the quotes inside it ("")'
    )
    return CourseFailure(source, line, None, reason)


def _jsonl_courses(
    data: bytes, source: str, id_column: str, columns: Sequence[str]
) -> Iterator[Course | CourseFailure]:
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            reason = f"not UTF-8 text (byte {raw[exc.start]:#04x}); save the catalogue as UTF-8"
            yield CourseFailure(source, number, None, reason)
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield CourseFailure(source, number, None, f"not valid JSON ({exc.msg})")
            continue
        if not isinstance(record, dict):
            yield CourseFailure(source, number, None, "not a JSON object")
            continue
        if not any(column in record for column in columns):
            reason = (
                f"none of the text fields {list(columns)}; name yours with "
                f"{parameter('text_columns')}"
            )
            yield CourseFailure(source, number, str(record.get(id_column) or "") or None, reason)
            continue
        yield _record(record, number, source, id_column, columns)


def _txt_courses(folder: Path) -> Iterator[Course | CourseFailure]:
    files = sorted(path for path in folder.iterdir() if path.suffix.lower() == ".txt")
    if not files:
        msg = f"the folder {str(folder)!r} has no .txt files; put one file per course there"
        raise CourseInputError(msg)
    for path in files:
        try:
            text = path.read_bytes().decode("utf-8-sig").strip()
        except UnicodeDecodeError as exc:
            reason = "not UTF-8 text; save the file as UTF-8"
            yield CourseFailure(path.name, None, path.stem, f"{reason} ({exc.reason})")
            continue
        if not text:
            yield CourseFailure(path.name, None, path.stem, "the file is empty")
            continue
        yield Course(id=path.stem, text=text, source=path.name)


def _sniff(data: bytes) -> InputFormat:
    start = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return "jsonl" if start == b"{" else "csv"


def _unique(courses: Iterable[Course | CourseFailure]) -> Iterator[Course | CourseFailure]:
    first: dict[str, int | None] = {}
    for item in courses:
        if isinstance(item, Course):
            if item.id in first:
                seen = first[item.id]
                where = f"line {seen}" if seen is not None else "before"
                reason = f"the id appears twice (first on {where}); ids must be unique"
                yield CourseFailure("", item.line, item.id, reason)
                continue
            first[item.id] = item.line
        yield item


def read_courses(
    source: str | Path,
    *,
    id_column: str = DEFAULT_ID_COLUMN,
    text_columns: Sequence[str] = DEFAULT_TEXT_COLUMNS,
    input_format: InputFormat | None = None,
) -> Iterator[Course | CourseFailure]:
    """Yield the courses of a catalogue, and a `CourseFailure` for each one that is unusable.

    Example:
        >>> [c.id for c in read_courses("catalogue.csv")]  # columns id, title, description
        ['c1', 'c2']

    Args:
        source: A `.csv` or `.jsonl` file, "-" for standard input (CSV or JSONL, told apart
            by the first character), or a folder of `.txt` files (one course each, the file
            name without `.txt` as id).
        id_column: The column (or JSON field) with each course's unique id.
        text_columns: The columns joined (with a blank line) into the course text; those a
            record lacks are left out.
        input_format: "csv", "jsonl" or "txt"; default: from the suffix.

    Raises:
        CourseInputError: The catalogue is missing, of an unknown format, or has no id column
            or none of the text columns.
    """
    if isinstance(source, str) and source == "-":
        name = "-"
        data = sys.stdin.buffer.read()
        kind = input_format or _sniff(data)
    else:
        path = Path(source).expanduser()
        name = path.name
        if path.is_dir():
            yield from _txt_courses(path)
            return
        if not path.is_file():
            msg = f"the catalogue {str(path)!r} does not exist; check the path"
            raise CourseInputError(msg)
        kind = input_format or _SUFFIXES.get(path.suffix.lower(), "txt")
        if kind == "txt":
            msg = (
                f"{name}: unknown catalogue format {path.suffix!r}; use a .csv or .jsonl file, "
                "a folder of .txt files, or pass the format"
            )
            raise CourseInputError(msg)
        data = path.read_bytes()
    if kind == "jsonl":
        courses: Iterator[Course | CourseFailure] = _jsonl_courses(
            data, name, id_column, text_columns
        )
    else:
        text = data.decode("utf-8", "surrogateescape").removeprefix("\ufeff")
        courses = _csv_courses(text, name, id_column, text_columns)
    for item in _unique(courses):
        if isinstance(item, CourseFailure) and not item.source:
            item = CourseFailure(name, item.line, item.id, item.reason)
        yield item
