"""Bad-input suite, property-based (hypothesis): every loader and the gold reader return a
result or raise their one error type, for random bytes, other encodings, huge cells, duplicate
ids, missing columns, other separators, CRLF and NUL; `course-skills index` answers such files
with a result or one error line, never a traceback, and never leaves fewer skills stored.

Examples are derandomised (the same in every run) and bounded in number.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document

from langchain_course_skills.cli import main
from langchain_course_skills.errors import TaxonomyError
from langchain_course_skills.evaluation import GoldSetError, load_gold
from langchain_course_skills.loaders import (
    MAX_LABEL_CHARS,
    load_esco_skills,
    load_greta,
    load_skill_table,
)
from tests.reliability import snapshot

pytestmark = pytest.mark.badinput

BOUNDED = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CLI_EXAMPLES = settings(BOUNDED, max_examples=25)  # each loads the model and opens the store

COLUMNS = ["id", "label", "description", "conceptUri", "preferredLabel", "altLabels", "x"]
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"]
GOLD_KEYS = ["query", "relevant", "pos", "sentence", "uris", "id"]
HUGE = 200_000  # characters: above the CSV reader's field limit
_AWKWARD = ",;\t\"'\r\n\x00\ufeff{}ä€😀 \\"

cells = st.one_of(
    st.text(alphabet=st.sampled_from(_AWKWARD + "abcXYZ019"), max_size=30),
    st.text(max_size=20),
    st.sampled_from(["", " ", "x" * (MAX_LABEL_CHARS + 1), "y" * HUGE, "{label}", "dup"]),
)


plain = st.text(alphabet="abcdefghijXYZ äöüß-/().", min_size=1, max_size=15)
mostly_plain = st.one_of(plain, plain, plain, cells)


@st.composite
def near_valid_tables(draw: st.DrawFn, required: list[str]) -> bytes:
    """A CSV with the required columns (and others) in any order, quoted properly, mostly plain
    cells with now and then an awkward one (empty, huge, NUL, a duplicate id...)."""
    header = list(dict.fromkeys(required + draw(st.lists(st.sampled_from(COLUMNS), max_size=3))))
    header = draw(st.permutations(header))
    rows = draw(
        st.lists(
            st.lists(mostly_plain, min_size=len(header), max_size=len(header)),
            min_size=1,
            max_size=6,
        )
    )
    if rows and draw(st.booleans()):
        rows.append(list(rows[0]))  # a duplicate row, so a duplicate id
    buffer = io.StringIO()
    separator = draw(st.sampled_from([",", ";", "\t"]))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    writer = csv.writer(buffer, delimiter=separator, lineterminator=ending)
    writer.writerows([header, *rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "latin-1"]))
    return buffer.getvalue().encode(encoding, errors="replace")


@st.composite
def tables(draw: st.DrawFn) -> bytes:
    """A CSV-like file: some header columns, rows of awkward cells, any separator, line ending
    and encoding; sometimes with a unit of random bytes spliced in."""
    header = draw(st.lists(st.sampled_from(COLUMNS), min_size=0, max_size=5))
    width = max(1, len(header) + draw(st.integers(-1, 1)))
    rows = draw(st.lists(st.lists(cells, min_size=width, max_size=width), max_size=6))
    separator = draw(st.sampled_from([",", ";", "\t", "|"]))
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    buffer = io.StringIO()
    if draw(st.booleans()):  # quoted as a spreadsheet would
        writer = csv.writer(buffer, delimiter=separator, lineterminator=ending)
        for row in [header, *rows]:
            writer.writerow(row)
    else:  # cells joined as they are, quotes and separators inside included
        buffer.write("".join(separator.join(row) + ending for row in [header, *rows]))
    data = buffer.getvalue().encode(draw(st.sampled_from(ENCODINGS)), errors="replace")
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(max_size=40)) + data[at:]
    return data


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), cells),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(COLUMNS), inner),
    max_leaves=12,
)


@st.composite
def jsonl_files(draw: st.DrawFn, keys: list[str]) -> bytes:
    """JSON Lines with objects of some of `keys` (any values), other JSON or broken lines."""
    lines = draw(
        st.lists(
            st.one_of(
                st.dictionaries(st.sampled_from(keys), json_values, max_size=4).map(json.dumps),
                json_values.map(json.dumps),
                st.text(max_size=30),
            ),
            max_size=6,
        )
    )
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    return ending.join(lines).encode(draw(st.sampled_from(ENCODINGS)), errors="replace")


@st.composite
def near_valid_jsonl(draw: st.DrawFn, record: st.SearchStrategy[dict]) -> bytes:
    """JSON Lines of mostly well-formed records, with a broken line now and then."""
    lines = draw(
        st.lists(
            st.one_of(record.map(json.dumps), record.map(json.dumps), st.text(max_size=20)),
            min_size=1,
            max_size=6,
        )
    )
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines).encode("utf-8")


skill_records = st.fixed_dictionaries(
    {"id": mostly_plain, "label": mostly_plain}, optional={"description": json_values}
)
gold_records = st.fixed_dictionaries(
    {
        "query": st.one_of(plain, mostly_plain),
        "relevant": st.lists(st.one_of(plain, plain, mostly_plain), min_size=1, max_size=3),
    },
    optional={"id": st.one_of(plain, st.integers(0, 3))},
)


@st.composite
def greta_files(draw: st.DrawFn) -> bytes:
    facet = st.fixed_dictionaries(
        {"ID": mostly_plain, "Name": mostly_plain},
        optional={"Kompetenzanforderungen": st.lists(mostly_plain, max_size=3) | json_values},
    )
    area = st.fixed_dictionaries(
        {"Name": mostly_plain, "Kompetenzfacetten": st.lists(facet, min_size=1, max_size=3)}
    ) | st.fixed_dictionaries({"Name": mostly_plain})
    aspect = st.fixed_dictionaries(
        {"Name": mostly_plain, "Kompetenzbereiche": st.lists(area, min_size=1, max_size=3)}
    ) | st.fixed_dictionaries({"Name": json_values})
    model = draw(
        st.one_of(
            st.fixed_dictionaries({"Kompetenzaspekte": st.lists(aspect, max_size=3)}),
            json_values,
        )
    )
    return json.dumps({"Kompetenzmodell": model}).encode(draw(st.sampled_from(ENCODINGS)))


def _check(documents: list[Document]) -> None:
    """What every loaded skill satisfies."""
    ids = [doc.id for doc in documents]
    assert documents and len(set(ids)) == len(ids)
    for doc in documents:
        assert doc.id and doc.page_content.strip()
        label = str(doc.metadata["label"])
        assert label and "\x00" not in label and len(label) <= MAX_LABEL_CHARS
        assert "\r" not in doc.page_content


def _load(tmp_path: Path, name: str, data: bytes, loader) -> None:  # noqa: ANN001
    file = tmp_path / name
    file.write_bytes(data)
    try:
        documents = loader(file)
    except TaxonomyError as exc:
        assert "\n" not in str(exc), str(exc)  # one line on the command line
        event("taxonomy error")
        return
    _check(documents)
    event("skills loaded")


@BOUNDED
@given(data=st.one_of(near_valid_tables(["id", "label"]), tables()))
def test_table_csv_gives_skills_or_a_taxonomy_error(tmp_path: Path, data: bytes) -> None:
    _load(tmp_path, "skills.csv", data, lambda f: load_skill_table(f, taxonomy="T"))


@BOUNDED
@given(data=st.one_of(near_valid_tables(["conceptUri", "preferredLabel"]), tables()))
def test_esco_csv_gives_skills_or_a_taxonomy_error(tmp_path: Path, data: bytes) -> None:
    _load(tmp_path, "skills_de.csv", data, load_esco_skills)


@BOUNDED
@given(data=st.one_of(near_valid_jsonl(skill_records), jsonl_files(["id", "label", "description"])))
def test_table_jsonl_gives_skills_or_a_taxonomy_error(tmp_path: Path, data: bytes) -> None:
    _load(tmp_path, "skills.jsonl", data, lambda f: load_skill_table(f, taxonomy="T"))


@BOUNDED
@given(data=st.one_of(greta_files(), st.binary(max_size=300)))
def test_greta_json_gives_skills_or_a_taxonomy_error(tmp_path: Path, data: bytes) -> None:
    _load(tmp_path, "greta.json", data, load_greta)


@BOUNDED
@given(
    data=st.one_of(near_valid_jsonl(gold_records), jsonl_files(GOLD_KEYS), st.binary(max_size=300))
)
def test_gold_file_gives_queries_or_a_gold_set_error(tmp_path: Path, data: bytes) -> None:
    file = tmp_path / "gold.jsonl"
    file.write_bytes(data)
    try:
        queries = load_gold(file)
    except GoldSetError as exc:
        assert "\n" not in str(exc), str(exc)
        event("gold set error")
        return
    event("queries read")
    assert queries and len({q.query_id for q in queries}) == len(queries)
    assert all(q.query.strip() and q.relevant for q in queries)


@pytest.fixture(scope="module")
def store(
    tmp_path_factory: pytest.TempPathFactory, esco_slice: Path, tiny_bi_encoder: Path
) -> Path:
    db = tmp_path_factory.mktemp("bad-input") / "db"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert (
            main(["index", str(esco_slice), "--db", str(db), "--model", str(tiny_bi_encoder)]) == 0
        )
    return db


def _stored_ids(db: Path, scratch: Path) -> set[str]:
    return set(snapshot(db, scratch=scratch).ids)


@CLI_EXAMPLES
@given(
    data=st.one_of(
        near_valid_tables(["id", "label"]),
        near_valid_tables(["conceptUri", "preferredLabel"]),
        near_valid_jsonl(skill_records),
        tables(),
        st.binary(max_size=500),
    ),
    suffix=st.sampled_from([".csv", ".jsonl", ".json", ".txt"]),
)
def test_index_answers_bad_files_in_one_line_and_keeps_every_stored_skill(
    tmp_path_factory: pytest.TempPathFactory,
    store: Path,
    tiny_bi_encoder: Path,
    data: bytes,
    suffix: str,
) -> None:
    folder = tmp_path_factory.mktemp("bad-file")
    file = folder / f"skills{suffix}"
    file.write_bytes(data)
    before = _stored_ids(store, folder)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["index", str(file), "--db", str(store), "--model", str(tiny_bi_encoder)])
    errors = [line for line in err.getvalue().splitlines() if line.startswith("error:")]
    assert (status, len(errors)) in ((0, 0), (1, 1)), err.getvalue()
    event(f"exit status {status}")
    assert before <= _stored_ids(store, folder)
    assert "Traceback" not in err.getvalue()
