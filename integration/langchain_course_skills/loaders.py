"""Load skill taxonomies (ESCO, GRETA, your own CSV or JSONL) as LangChain documents.

Each document has a stable `id` (the skill's URI or id), the passage text from a template, and
metadata with `uri`, `label` and `taxonomy`, so that stores can be updated in place.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.documents import Document

from langchain_course_skills._jsonl import json_objects
from langchain_course_skills.errors import TaxonomyError, parameter
from langchain_course_skills.vocabulary import TEMPLATE_KEY

logger = logging.getLogger(__name__)

DEFAULT_ESCO_TEMPLATE = "{preferredLabel}"  # the model card indexes preferred labels
DEFAULT_GRETA_TEMPLATE = "{label}"
DEFAULT_TABLE_TEMPLATE = "{label}"
_ESCO_REQUIRED = ("conceptUri", "preferredLabel")
MAX_LABEL_CHARS = 1000  # a skill's name, not a text (ESCO's longest label has 118 characters)
_DELIMITERS = (",", ";", "\t")  # CSV separators recognised in the header row, comma first
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
KINDS = ("esco", "greta", "table")  # what `load_taxonomy` reads; "auto" tells them apart
ESCO_LABEL = "preferredLabel"  # the ESCO column that holds the skill's name
ESCO_ID = "conceptUri"  # the ESCO column that holds the skill's URI
TABLE_SUFFIXES = (".csv", ".jsonl", ".ndjson")
_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_SNIFF_CHARS = 65536  # enough of a file to find the GRETA root key


def _read_checked(path: str | Path) -> tuple[Path, str]:
    """Read a taxonomy file once: its path and text, if it is a readable, non-empty UTF-8 file.

    Decoding is checked here, on the whole file, because the CSV reader decodes in blocks
    and could not tell the line of a bad byte.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        msg = f"taxonomy file {str(file)!r} does not exist or is not a file; check the path"
        raise TaxonomyError(msg)
    try:
        data = file.read_bytes()
    except OSError as exc:
        msg = f"cannot read taxonomy file {str(file)!r} ({exc.strerror}); check its permissions"
        raise TaxonomyError(msg) from exc
    if not data.strip():
        msg = f"taxonomy file {str(file)!r} is empty; export it again with a header row"
        raise TaxonomyError(msg)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        msg = (
            f"{file.name}, line {line}: not UTF-8 text (byte {data[exc.start]:#04x}); "
            "save the file as UTF-8 (in a spreadsheet: CSV UTF-8)"
        )
        raise TaxonomyError(msg) from exc
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        msg = (
            f"{file.name}, line {line}: contains a NUL byte, so it is not a text file (maybe "
            "UTF-16 or a spreadsheet's binary format); save it as CSV UTF-8 or JSONL"
        )
        raise TaxonomyError(msg)
    return file, text.removeprefix("\ufeff")  # a spreadsheet's byte order mark


def check_taxonomy_file(path: str | Path) -> Path:
    """Return `path` if it is a readable, non-empty UTF-8 file, else raise a `TaxonomyError`."""
    return _read_checked(path)[0]


def _clean(value: str) -> str:
    """One cell's text, trimmed, with Unix line endings (a CRLF copy gives the same skills)."""
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def _check_label(label: str, where: str, column: str) -> None:
    if "\x00" in label:
        msg = f"{where}: the label ({column!r}) contains a NUL character; remove it"
        raise TaxonomyError(msg)
    if len(label) > MAX_LABEL_CHARS:
        msg = (
            f"{where}: the label ({column!r}) has {len(label):,} characters, more than "
            f"{MAX_LABEL_CHARS:,}; a label names a skill (put longer text in a description "
            "column), or a quote that is never closed has joined several rows"
        )
        raise TaxonomyError(msg)


def csv_delimiter(header: str) -> str:
    """Return the separator of a CSV header row: comma, semicolon or tab, whichever splits it most.

    Spreadsheets in German locales export with semicolons; ties go to the comma.
    """
    counts = {d: len(next(csv.reader([header], delimiter=d), [])) for d in _DELIMITERS}
    return max(_DELIMITERS, key=lambda d: (counts[d], d == ","))


def _header(text: str) -> list[str]:
    """Return the column names of a CSV text's header row (any of the separators), or []."""
    first = io.StringIO(text, newline="").readline().rstrip("\r\n")
    try:
        return next(csv.reader([first], delimiter=csv_delimiter(first)), [])
    except csv.Error:
        return []  # the loader reports what is wrong, with the line number


def _template_fields(template: str) -> list[str]:
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name]
    except ValueError as exc:
        msg = f"passage template {template!r} is not a valid format string: {exc}"
        raise TaxonomyError(msg) from exc


def _render(template: str, row: Mapping[str, Any], where: str) -> str:
    text = template.format_map({key: "" if v is None else v for key, v in row.items()}).strip()
    if not text:
        msg = f"{where}: the passage template {template!r} gives an empty text; fill the row"
        raise TaxonomyError(msg)
    return text


def _check_template(template: str, available: list[str], file: Path) -> None:
    missing = [name for name in _template_fields(template) if name not in available]
    if missing:
        msg = (
            f"passage template {template!r} uses {missing} but {file.name} has only "
            f"{available}; use those names in the template"
        )
        raise TaxonomyError(msg)


def _read_csv(file: Path, text: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) pairs of the file's `text`; the header must exist and rows parse."""
    with io.StringIO(text, newline="") as handle:
        delimiter = csv_delimiter(handle.readline().rstrip("\r\n"))
        handle.seek(0)
        if delimiter != ",":
            logger.info("%s: reading %s-separated columns", file.name, _DELIMITER_NAMES[delimiter])
        # strict: a quote that opens a cell but does not close where it ends is an error, not
        # a cell that runs on over the next rows (one giant label, skills lost)
        reader = csv.DictReader(handle, delimiter=delimiter, strict=True)
        line = 0  # the last line read; a row starts on the next one
        try:
            if not reader.fieldnames:
                msg = f"taxonomy file {str(file)!r} is empty; export it again with a header row"
                raise TaxonomyError(msg)
            line = reader.line_num
            for row in reader:
                if None in row:
                    msg = (
                        f"{file.name}, line {line + 1}: more fields than the header has "
                        f"columns ({_DELIMITER_NAMES[delimiter]}-separated); quote cells "
                        "that contain the separator"
                    )
                    raise TaxonomyError(msg)
                yield line + 1, {key: _clean(value or "") for key, value in row.items()}
                line = reader.line_num
        except csv.Error as exc:
            hint = (
                f"a cell is longer than {csv.field_size_limit():,} characters, usually because "
                'a quote (") is never closed; check the quotes from this line on'
                if "field limit" in str(exc)
                else 'a quote (") opens a cell on this line that is not closed where the cell '
                'ends; quote the whole cell and double the quotes inside it ("")'
            )
            msg = f"{file.name}, line {line + 1}: cannot read the CSV ({exc}); {hint}"
            raise TaxonomyError(msg) from exc


def _read_jsonl(file: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    with io.StringIO(text, newline=None) as handle:  # any line ending, as a text file reads
        yield from json_objects(handle, file.name, TaxonomyError)


def _finish(documents: list[Document], file: Path, lines: list[int]) -> list[Document]:
    if not documents:
        msg = f"taxonomy file {str(file)!r} has no skills; check that it is the right file"
        raise TaxonomyError(msg)
    first_line: dict[str, int] = {}
    for doc, line in zip(documents, lines, strict=True):
        doc_id = str(doc.id)
        if doc_id in first_line:
            msg = (
                f"{file.name}: id {doc_id!r} appears twice (lines {first_line[doc_id]} and "
                f"{line}); ids must be unique, so remove or rename one of them"
            )
            raise TaxonomyError(msg)
        first_line[doc_id] = line
    return documents


def load_esco_skills(
    path: str | Path,
    *,
    passage_template: str = DEFAULT_ESCO_TEMPLATE,
    columns: Mapping[str, str] | None = None,
    taxonomy: str = "ESCO",
) -> list[Document]:
    """Load an ESCO `skills_<lang>.csv` export (any language) as one document per skill.

    Args:
        path: The CSV file: the official export, or a label-only file through `columns`.
        passage_template: How each passage is written, with ESCO column names as fields,
            for example `"{preferredLabel}: {description}"`.
        columns: Maps ESCO column names to this file's names, for example
            `{"preferredLabel": "preferredLabel_de"}` for a German label-only file.
        taxonomy: The value of `metadata["taxonomy"]`.

    Returns:
        Documents with `id` = conceptUri and metadata uri, label, taxonomy, skill_type,
        reuse_level, alt_labels (newline-separated), description and passage_template.

    Example:
        >>> docs = load_esco_skills("skills_de.csv")
        >>> docs[0].page_content, docs[0].id
        ('Strafvollzugsverfahren beaufsichtigen', 'http://data.europa.eu/esco/skill/0006...')
    """
    file, text = _read_checked(path)
    return _esco_documents(file, text, passage_template, columns, taxonomy)


def _esco_documents(
    file: Path,
    text: str,
    passage_template: str,
    columns: Mapping[str, str] | None,
    taxonomy: str,
) -> list[Document]:
    rename = {source: esco for esco, source in (columns or {}).items()}
    documents: list[Document] = []
    lines: list[int] = []
    for line, raw in _read_csv(file, text):
        row = {rename.get(key, key): value for key, value in raw.items()}
        if not documents:
            missing = [name for name in _ESCO_REQUIRED if name not in row]
            if missing:
                msg = (
                    f"{file.name} has no column {missing} (it has {list(raw)}); pass "
                    "columns={'preferredLabel': 'your_label_column'} to map yours"
                )
                raise TaxonomyError(msg)
            _check_template(passage_template, list(row), file)
        for name in _ESCO_REQUIRED:
            if not row[name]:
                msg = f"{file.name}, line {line}: {name} is empty; every skill needs one"
                raise TaxonomyError(msg)
        _check_label(row["preferredLabel"], f"{file.name}, line {line}", "preferredLabel")
        metadata = {
            "uri": row["conceptUri"],
            "label": row["preferredLabel"],
            "taxonomy": taxonomy,
            "skill_type": row.get("skillType", ""),
            "reuse_level": row.get("reuseLevel", ""),
            "alt_labels": row.get("altLabels", ""),
            "description": row.get("description", ""),
            TEMPLATE_KEY: passage_template,
        }
        text = _render(passage_template, row, f"{file.name}, line {line}")
        documents.append(Document(id=row["conceptUri"], page_content=text, metadata=metadata))
        lines.append(line)
    return _finish(documents, file, lines)


def _greta_facet(
    facet: Mapping[str, Any],
    area: Mapping[str, Any],
    aspect: Mapping[str, Any],
    passage_template: str,
    file: Path,
) -> Document:
    row = {
        "label": _clean(facet["Name"]),
        "requirements": _clean("; ".join(facet.get("Kompetenzanforderungen", []))),
        "area": _clean(area["Name"]),
        "aspect": _clean(aspect["Name"]),
    }
    where = f"{file.name}, facet {str(facet['ID'])!r}"
    _check_label(row["label"], where, "Name")
    uri = f"GRETA/{facet['ID']}"
    metadata = {"uri": uri, "taxonomy": "GRETA", TEMPLATE_KEY: passage_template, **row}
    return Document(id=uri, page_content=_render(passage_template, row, where), metadata=metadata)


def load_greta(
    path: str | Path, *, passage_template: str = DEFAULT_GRETA_TEMPLATE
) -> list[Document]:
    """Load the GRETA competency model JSON as one document per competency facet (23).

    Args:
        path: The GRETA-Kompetenzmodell JSON (Kompetenzaspekte -> Kompetenzbereiche ->
            Kompetenzfacetten).
        passage_template: Fields: label, requirements (the Kompetenzanforderungen joined by
            "; "), area, aspect, for example `"{label}: {requirements}"`.

    Returns:
        Documents with `id` = `GRETA/<facet ID>` and metadata uri, label, taxonomy "GRETA",
        aspect, area, requirements and passage_template.
    """
    file, text = _read_checked(path)
    return _greta_documents(file, text, passage_template)


def _greta_documents(file: Path, text: str, passage_template: str) -> list[Document]:
    try:
        model = json.loads(text)["Kompetenzmodell"]
        aspects = model["Kompetenzaspekte"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        msg = f"{file.name} is not a GRETA competency model JSON ({exc}); check the file"
        raise TaxonomyError(msg) from exc
    _check_template(passage_template, ["label", "requirements", "area", "aspect"], file)
    documents: list[Document] = []
    try:
        for aspect in aspects:
            for area in aspect.get("Kompetenzbereiche", []):
                for facet in area.get("Kompetenzfacetten", []):
                    documents.append(_greta_facet(facet, area, aspect, passage_template, file))
    except (KeyError, TypeError, AttributeError) as exc:  # a facet, area or aspect of another shape
        msg = (
            f"{file.name}, facet {len(documents) + 1}: not a GRETA competency model facet "
            f"({type(exc).__name__}: {exc}); check the file"
        )
        raise TaxonomyError(msg) from exc
    return _finish(documents, file, list(range(1, len(documents) + 1)))


def load_skill_table(
    path: str | Path,
    *,
    taxonomy: str,
    label_column: str = "label",
    id_column: str | None = "id",
    passage_template: str = DEFAULT_TABLE_TEMPLATE,
    metadata_columns: list[str] | None = None,
) -> list[Document]:
    """Load any skill list from CSV or JSONL (DigComp, a company's skills) with a column mapping.

    Args:
        path: A `.csv` file with a header row, or a `.jsonl` file with one object per line.
        taxonomy: The value of `metadata["taxonomy"]`, for example "DigComp".
        label_column: The column holding the skill's name.
        id_column: The column holding a unique id or URI; None derives `<taxonomy>/<label>`.
        passage_template: How each passage is written; fields are the file's columns and
            `label`, for example `"{label}: {description}"`.
        metadata_columns: Columns copied into metadata (default: all the template uses).

    Returns:
        Documents with metadata uri (the id), label, taxonomy, passage_template and the
        metadata columns.
    """
    file, text = _read_checked(path)
    return _table_documents(
        file, text, taxonomy, label_column, id_column, passage_template, metadata_columns
    )


def _table_documents(
    file: Path,
    text: str,
    taxonomy: str,
    label_column: str,
    id_column: str | None,
    passage_template: str,
    metadata_columns: list[str] | None,
) -> list[Document]:
    if file.suffix.lower() in _JSONL_SUFFIXES:
        records: Iterator[tuple[int, Mapping[str, Any]]] = _read_jsonl(file, text)
    elif file.suffix.lower() == ".csv":
        records = _read_csv(file, text)
    else:
        msg = f"{file.name}: unknown taxonomy format {file.suffix!r}; use a .csv or .jsonl file"
        raise TaxonomyError(msg)
    documents: list[Document] = []
    lines: list[int] = []
    needed = [label_column] + ([id_column] if id_column else [])
    extra: list[str] = []  # metadata columns, set once the first row has checked the template
    for line, record in records:
        row = {key: "" if value is None else _clean(str(value)) for key, value in record.items()}
        where = f"{file.name}, line {line}"
        missing = [name for name in needed if name not in row]
        if missing:
            msg = (
                f"{where}: no field {missing} (it has {list(row)}); pass "
                f"{parameter('label_column')}/{parameter('id_column')}"
            )
            raise TaxonomyError(msg)
        row["label"] = row[label_column]
        if not row["label"]:
            msg = f"{where}: the label ({label_column!r}) is empty; every skill needs one"
            raise TaxonomyError(msg)
        _check_label(row["label"], where, label_column)
        if not documents:
            _check_template(passage_template, list(row), file)
            extra = metadata_columns or [
                name for name in _template_fields(passage_template) if name != "label"
            ]
        uri = row[id_column] if id_column else f"{taxonomy}/{row['label']}"
        if not uri:
            msg = f"{where}: the id ({id_column!r}) is empty; every skill needs one"
            raise TaxonomyError(msg)
        metadata = {name: row.get(name, "") for name in extra}
        metadata.update(uri=uri, label=row["label"], taxonomy=taxonomy)
        metadata[TEMPLATE_KEY] = passage_template
        documents.append(
            Document(id=uri, page_content=_render(passage_template, row, where), metadata=metadata)
        )
        lines.append(line)
    return _finish(documents, file, lines)


def _detect_kind(file: Path, text: str, header: list[str]) -> str:
    """Return "esco", "greta" or "table" for a taxonomy file, or raise `TaxonomyError`."""
    suffix = file.suffix.lower()
    if suffix == ".json":
        if "Kompetenzmodell" in text[:_SNIFF_CHARS]:
            return "greta"
        msg = (
            f"{file.name} is a JSON file but not the GRETA competency model (no "
            '"Kompetenzmodell" key); for your own skill list use JSONL (one object per line, '
            f"with {parameter('kind', repr('table'))}) or CSV"
        )
        raise TaxonomyError(msg)
    if suffix == ".csv" and ESCO_ID in header and any(c.startswith(ESCO_LABEL) for c in header):
        return "esco"
    if suffix in TABLE_SUFFIXES:
        return "table"
    msg = (
        f"{file.name}: unknown taxonomy format {file.suffix or '(no extension)'!r}; pass an "
        "ESCO skills_<lang>.csv, the GRETA JSON, or your own .csv/.jsonl with "
        f"{parameter('kind', repr('table'))}"
    )
    raise TaxonomyError(msg)


def _esco_column(file: Path, header: list[str], esco: str, wanted: str | None, name: str) -> str:
    """Return the file's column for the ESCO column `esco`: `wanted` if the file has it."""
    if wanted and wanted in header:
        return wanted
    if esco in header:
        return esco  # `wanted` may be meant for another file (the command line takes several)
    candidates = [c for c in header if c.startswith(esco)]
    if len(candidates) == 1:  # a label-only export such as preferredLabel_de
        return candidates[0]
    msg = (
        f"{file.name} has no column {wanted or esco!r} (it has {header}); pass "
        f"{parameter(name)} with the column that holds it"
    )
    raise TaxonomyError(msg)


@dataclass(frozen=True)
class TaxonomyFile:
    """A taxonomy file, read and checked once: its kind and columns, ready to load.

    Example:
        >>> source = read_taxonomy("skills_de.csv")
        >>> source.kind, len(source.documents())
        ('esco', 13896)
    """

    path: Path
    """The file."""
    kind: str
    """"esco", "greta" or "table"."""
    columns: tuple[str, ...]
    """The header row of a CSV file; empty for JSON and JSONL."""
    text: str = field(repr=False)
    """The file's text, decoded once."""

    def reads_column(self, column: str) -> bool:
        """Whether `documents` reads `column` when it is passed as `label_column`/`id_column`.

        A table reads the columns it is given (or fails); an ESCO file only those it has, and
        ESCO's own otherwise; GRETA has fixed fields.
        """
        return self.kind == "table" or (self.kind == "esco" and column in self.columns)

    def documents(
        self,
        *,
        taxonomy: str | None = None,
        label_column: str | None = None,
        id_column: str | None = None,
        passage_template: str | None = None,
        metadata_columns: list[str] | None = None,
    ) -> list[Document]:
        """Load the skills; see `load_taxonomy` for the arguments."""
        file, header = self.path, list(self.columns)
        if self.kind == "esco":
            label = _esco_column(file, header, ESCO_LABEL, label_column, "label_column")
            uri = _esco_column(file, header, ESCO_ID, id_column, "id_column")
            own = {esco: col for esco, col in ((ESCO_LABEL, label), (ESCO_ID, uri)) if col != esco}
            template = passage_template or DEFAULT_ESCO_TEMPLATE
            return _esco_documents(file, self.text, template, own, taxonomy or "ESCO")
        if self.kind == "greta":
            return _greta_documents(file, self.text, passage_template or DEFAULT_GRETA_TEMPLATE)
        label, uri = label_column or "label", id_column or "id"
        if file.suffix.lower() == ".csv":  # a JSONL file's fields are checked line by line
            for column, name in ((label, "label_column"), (uri, "id_column")):
                if column not in header:
                    msg = (
                        f"{file.name} has no column {column!r} (it has {header}); pass "
                        f"{parameter(name)} with the column that holds it"
                    )
                    raise TaxonomyError(msg)
        return _table_documents(
            file,
            self.text,
            taxonomy or file.stem,
            label,
            uri,
            passage_template or DEFAULT_TABLE_TEMPLATE,
            metadata_columns,
        )


def read_taxonomy(path: str | Path, kind: str = "auto") -> TaxonomyFile:
    """Read and check a taxonomy file once, and tell its kind (see `load_taxonomy`)."""
    if kind != "auto" and kind not in KINDS:
        msg = f"unknown taxonomy kind {kind!r}; pass one of {['auto', *KINDS]}"
        raise TaxonomyError(msg)
    file, text = _read_checked(path)
    csv_file = file.suffix.lower() == ".csv"
    header = _header(text) if kind == "esco" or (kind != "greta" and csv_file) else []
    if kind == "auto":
        kind = _detect_kind(file, text, header)
    if kind == "table" and not csv_file:
        header = []
    return TaxonomyFile(path=file, kind=kind, columns=tuple(header), text=text)


def load_taxonomy(
    path: str | Path,
    kind: str = "auto",
    *,
    taxonomy: str | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
    passage_template: str | None = None,
    metadata_columns: list[str] | None = None,
) -> list[Document]:
    """Load any taxonomy file (ESCO, GRETA or your own table) as skill documents, reading it once.

    Every face (command line, evaluation, fine-tuning) loads taxonomy files through this.

    Args:
        path: An ESCO `skills_<lang>.csv` (full or label-only), the GRETA JSON, or your own
            `.csv`/`.jsonl`.
        kind: "esco", "greta", "table", or "auto": ESCO by its conceptUri/preferredLabel
            header, GRETA by a `.json` file with "Kompetenzmodell", anything else as a table.
        taxonomy: `metadata["taxonomy"]` (default: ESCO, GRETA, or a table's file name; GRETA
            keeps its own).
        label_column: The column with the skill's name (default: preferredLabel, or the only
            preferredLabel_* column, for ESCO; label for tables). An ESCO file that lacks it
            is read by ESCO's own column.
        id_column: The column with the skill's unique id (default: conceptUri for ESCO, id
            for tables).
        passage_template: How each skill is written, with the file's columns as fields
            (default: its label).
        metadata_columns: A table's columns copied into metadata (default: those the template
            uses).

    Returns:
        The skills, as `load_esco_skills`, `load_greta` or `load_skill_table` return them.

    Example:
        >>> docs = load_taxonomy("skills_de_labels.csv", label_column="preferredLabel_de")
        >>> docs[0].metadata["taxonomy"]
        'ESCO'
    """
    return read_taxonomy(path, kind).documents(
        taxonomy=taxonomy,
        label_column=label_column,
        id_column=id_column,
        passage_template=passage_template,
        metadata_columns=metadata_columns,
    )
