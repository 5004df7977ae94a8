"""Mapping a catalogue: formats, failures, resume after a real kill, and Ray against local."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from langchain_course_skills import (
    SkillRetriever,
)
from langchain_course_skills.cli import main
from langchain_course_skills.courses import Course, CourseFailure, read_courses, text_hash
from langchain_course_skills.errors import CourseInputError, MapOutputError
from langchain_course_skills.mapping import RetrieverSpec, map_courses
from tests.rankings import assert_same_ranking
from tests.support.map import _catalogue, _lines, _map_args

SKILL_KEYS = ["rank", "label", "uri", "taxonomy", "similarity", "relevance_score", "evidence"]
VIEW_KEYS = ["matched_view", "matched_text"]  # a store of several views per skill (the default)


@pytest.fixture(scope="module")
def spec(esco_db: Path, tiny_bi_encoder: Path, tiny_cross_encoder: Path) -> RetrieverSpec:
    return RetrieverSpec(
        model=str(tiny_bi_encoder),
        reranker=str(tiny_cross_encoder),
        persist_directory=str(esco_db),
        k=10,
        top_n=4,
        precision="fp32",
    )


@pytest.fixture(scope="module")
def retriever(spec: RetrieverSpec) -> SkillRetriever:
    return spec.build()


# --- reading catalogues ----------------------------------------------------------------------


def test_title_and_description_are_joined_with_a_blank_line(tmp_path: Path) -> None:
    courses = list(read_courses(_catalogue(tmp_path, 2)))

    assert courses == [
        Course("c0", "Course 0\n\nLearn to manage musical staff, lesson 0.", 2),
        Course("c1", "Course 1\n\nLearn to manage musical staff, lesson 1.", 3),
    ]


def test_unusable_records_are_failures_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(
        b"id,title,description\n"
        b"ok,Bread,Bake bread\n"
        b"empty,,\n"
        b",No id,text\n"
        b"latin,K\xe4se,cheese\n"
        b"ok,Again,duplicate id\n"
    )

    items = list(read_courses(path))

    assert [type(item).__name__ for item in items] == ["Course"] + ["CourseFailure"] * 4
    failures = [str(item) for item in items if isinstance(item, CourseFailure)]
    assert failures[0].startswith("bad.csv, line 3, course 'empty': the text is empty")
    assert failures[1].startswith("bad.csv, line 4: no id")
    assert failures[2].startswith("bad.csv, line 5, course 'latin': not UTF-8 text (byte 0xe4)")
    assert failures[3].startswith("bad.csv, line 6, course 'ok': the id appears twice")


def test_jsonl_lines_that_are_not_json_are_failures(tmp_path: Path) -> None:
    path = tmp_path / "courses.jsonl"
    path.write_bytes(b'{"id": "a", "description": "Bake bread"}\n{oops\n\xff\n[1]\n')

    items = list(read_courses(path))

    assert isinstance(items[0], Course)
    assert [(item.line, item.reason.split(" (")[0]) for item in items[1:]] == [
        (2, "not valid JSON"),
        (3, "not UTF-8 text"),
        (4, "not a JSON object"),
    ]


def test_a_catalogue_without_the_id_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "noid.csv"
    path.write_text("code,description\nx,Bake bread\n", encoding="utf-8")

    with pytest.raises(CourseInputError, match="no id column 'id'.*name yours with id_column"):
        list(read_courses(path))


def test_a_folder_of_text_files_is_a_catalogue(tmp_path: Path) -> None:
    (tmp_path / "bread.txt").write_text("Bake bread\n", encoding="utf-8")
    (tmp_path / "empty.txt").write_text(" ", encoding="utf-8")

    items = list(read_courses(tmp_path))

    assert items[0] == Course("bread", "Bake bread")
    assert isinstance(items[1], CourseFailure)
    assert str(items[1]) == "empty.txt, course 'empty': the file is empty"


# --- mapping and its output ------------------------------------------------------------------


def test_map_writes_one_line_per_course_as_invoke_ranks_it(
    tmp_path: Path, retriever: SkillRetriever
) -> None:
    catalogue = _catalogue(tmp_path)
    out = tmp_path / "skills.jsonl"

    report = map_courses(catalogue, out, retriever, batch_size=4, show_progress=False)

    lines = _lines(out)
    courses = [c for c in read_courses(catalogue) if isinstance(c, Course)]
    assert (report.mapped, report.skipped, report.failed) == (6, 0, ())
    assert [line["id"] for line in lines] == [c.id for c in courses]
    for line, course in zip(lines, courses):
        assert line["text_hash"] == text_hash(course.text)
        assert_same_ranking(
            [(s["uri"], s["relevance_score"]) for s in line["skills"]],
            [
                (d.metadata["uri"], d.metadata["relevance_score"])
                for d in retriever.invoke(course.text)
            ],
            tolerance=2e-4,  # the records' scores have 4 decimals
        )
        fused = ["fused_score"] if course.text == courses[2].text else []  # read in passages
        assert all(list(s) == SKILL_KEYS + VIEW_KEYS + fused for s in line["skills"])
        assert all(
            0 <= s["evidence"]["start"] < s["evidence"]["end"] <= len(course.text)
            for s in line["skills"]
        )
    long = lines[2]["skills"]
    assert any(s["evidence"]["end"] - s["evidence"]["start"] < len(courses[2].text) for s in long)


def test_courses_with_the_same_text_are_searched_once_and_each_has_its_record(
    tmp_path: Path, retriever: SkillRetriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "WordPress Kurs: eigene Webseiten erstellen und pflegen"
    courses = [Course("a", text), Course("b", "Excel für Einsteiger"), Course("c", text)]
    searched: list[str] = []
    search_many = SkillRetriever.search_many

    def counting(self: SkillRetriever, texts: list[str], **kwargs: object) -> object:
        searched.extend(texts)
        return search_many(self, texts, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(SkillRetriever, "search_many", counting)
    out = tmp_path / "skills.jsonl"

    report = map_courses(courses, out, retriever, show_progress=False)

    lines = {line["id"]: line for line in _lines(out)}
    assert sorted(searched) == sorted([text, "Excel für Einsteiger"])
    assert (report.mapped, sorted(lines)) == (3, ["a", "b", "c"])
    assert lines["c"]["skills"] == lines["a"]["skills"]
    assert lines["c"]["text_hash"] == lines["a"]["text_hash"] == text_hash(text)
    assert map_courses(courses, out, retriever, show_progress=False).skipped == 3


def test_csv_output_has_one_row_per_course_and_skill(
    tmp_path: Path, retriever: SkillRetriever
) -> None:
    out = tmp_path / "skills.csv"

    map_courses(_catalogue(tmp_path, 3), out, retriever, show_progress=False)

    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 * 4  # 3 courses, top_n 4
    assert [row["rank"] for row in rows[:4]] == ["1", "2", "3", "4"]
    assert {row["id"] for row in rows} == {"c0", "c1", "c2"}
    assert all(row["skills"] == "4" and row["evidence_end"] for row in rows)


def test_a_second_run_skips_every_unchanged_course(
    tmp_path: Path, retriever: SkillRetriever
) -> None:
    catalogue, out = _catalogue(tmp_path), tmp_path / "skills.jsonl"
    map_courses(catalogue, out, retriever, show_progress=False)
    before = out.read_bytes()

    report = map_courses(catalogue, out, retriever, show_progress=False)

    assert (report.mapped, report.skipped) == (0, 6)
    assert out.read_bytes() == before


def test_a_changed_text_is_mapped_again_and_replaces_its_line(
    tmp_path: Path, retriever: SkillRetriever
) -> None:
    catalogue, out = _catalogue(tmp_path), tmp_path / "skills.jsonl"
    map_courses(catalogue, out, retriever, show_progress=False)
    text = catalogue.read_text(encoding="utf-8").replace("lesson 4.", "lesson 4: bake bread.")
    catalogue.write_text(text, encoding="utf-8")

    report = map_courses(catalogue, out, retriever, show_progress=False)

    lines = _lines(out)
    assert (report.mapped, report.skipped) == (1, 5)
    assert sorted(line["id"] for line in lines) == [f"c{i}" for i in range(6)]
    changed = next(line for line in lines if line["id"] == "c4")
    assert changed["text_hash"] == text_hash(
        "Course 4\n\nLearn to manage musical staff, lesson 4: bake bread."
    )


def test_a_partial_last_line_is_repaired_and_its_course_mapped(
    tmp_path: Path, retriever: SkillRetriever
) -> None:
    catalogue, out = _catalogue(tmp_path), tmp_path / "skills.jsonl"
    map_courses(catalogue, out, retriever, show_progress=False)
    whole = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(whole[:4]) + whole[4][:25])  # killed while writing c4

    report = map_courses(catalogue, out, retriever, show_progress=False)

    assert (report.mapped, report.skipped) == (2, 4)
    assert sorted(line["id"] for line in _lines(out)) == [f"c{i}" for i in range(6)]


def test_a_csv_course_cut_between_its_rows_is_mapped_again(
    tmp_path: Path, retriever: SkillRetriever
) -> None:
    catalogue, out = _catalogue(tmp_path), tmp_path / "skills.csv"
    map_courses(catalogue, out, retriever, show_progress=False)
    rows = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(rows[: 1 + 4 * 3 + 2]))  # header, 3 courses, 2 of c3's 4 rows

    report = map_courses(catalogue, out, retriever, show_progress=False)

    with out.open(encoding="utf-8", newline="") as handle:
        ids = [row["id"] for row in csv.DictReader(handle)]
    assert (report.mapped, report.skipped) == (3, 3)
    assert sorted(ids) == sorted(f"c{i}" for i in range(6) for _ in range(4))


def test_a_file_that_map_did_not_write_is_refused(
    tmp_path: Path, retriever: SkillRetriever
) -> None:
    out = tmp_path / "mine.csv"
    out.write_text("name,score\nx,1\n", encoding="utf-8")

    with pytest.raises(MapOutputError, match="not an output of map_courses"):
        map_courses(_catalogue(tmp_path), out, retriever, show_progress=False)


# --- the command line ------------------------------------------------------------------------


def test_a_course_that_cannot_be_searched_is_a_failure_and_the_rest_are_mapped(
    tmp_path: Path, retriever: SkillRetriever
) -> None:
    good = [Course(f"c{i}", f"Learn to manage musical staff, lesson {i}.", i + 2) for i in range(3)]
    broken = Course("bad", "Kurs \ud800 text", 9, source="mine.jsonl")  # a broken JSON escape
    out = tmp_path / "skills.jsonl"

    report = map_courses(
        [good[0], broken, *good[1:]], out, retriever, batch_size=2, show_progress=False
    )

    assert [line["id"] for line in _lines(out)] == ["c0", "c1", "c2"]
    assert report.mapped == 3
    [failure] = report.failed
    assert (failure.source, failure.line, failure.id) == ("mine.jsonl", 9, "bad")
    assert "lone surrogate '\\ud800' at character 5" in failure.reason
    again = map_courses([*good, broken], out, retriever, show_progress=False)
    assert (again.mapped, again.skipped, len(again.failed)) == (0, 3, 1)  # tried again


def test_a_lone_surrogate_in_a_catalogue_is_a_failure_with_its_line(tmp_path: Path) -> None:
    catalogue = tmp_path / "courses.jsonl"
    catalogue.write_text(
        '{"id": "a", "title": "Backen"}\n{"id": "b", "title": "Kurs \\ud800"}\n', encoding="utf-8"
    )

    items = list(read_courses(catalogue))

    assert items[0] == Course("a", "Backen", 1)
    assert isinstance(items[1], CourseFailure)
    assert (items[1].line, items[1].id) == (2, "b")
    assert "lone surrogate" in items[1].reason


def test_a_csv_catalogue_with_a_broken_quote_names_the_lines_it_joined(tmp_path: Path) -> None:
    catalogue = tmp_path / "courses.csv"
    catalogue.write_text(
        'id,title\na,Backen\nb,"Kochen\nc,Nähen\nd,"Malen"\ne,Tanzen\n', encoding="utf-8"
    )

    items = list(read_courses(catalogue))

    assert items[0] == Course("a", "Backen", 2)
    failure = items[1]
    assert isinstance(failure, CourseFailure)
    assert failure.line == 3
    assert "lines 3-5" in failure.reason and "quote" in failure.reason
    assert items[-1] == Course("e", "Tanzen", 6)


def test_cli_reports_failed_courses_and_exits_3(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, esco_db: Path
) -> None:
    catalogue = _catalogue(tmp_path, 3)
    with catalogue.open("a", encoding="utf-8") as handle:
        handle.write("c9,,\n")
    out = tmp_path / "skills.jsonl"

    status = main(_map_args(esco_db, catalogue, "-o", out))

    captured = capsys.readouterr()
    assert status == 3
    assert "failed: catalogue.csv, line 5, course 'c9': the text is empty" in captured.err
    assert captured.out.startswith("mapped 3, skipped 0, failed 1 in ")
    assert len(_lines(out)) == 3


def test_cli_map_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["map", "--help"])

    out = capsys.readouterr().out
    assert "examples:" in out
    assert "course-skills map catalogue.csv" in out


def test_cli_ray_without_a_chroma_server_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, esco_db: Path
) -> None:
    status = main(_map_args(esco_db, _catalogue(tmp_path), "-o", tmp_path / "o.jsonl", "--ray"))

    assert status == 1
    assert "--ray needs the store on a Chroma server" in capsys.readouterr().err


# --- Ray -------------------------------------------------------------------------------------


def test_ray_needs_a_retriever_spec_on_a_chroma_server(
    tmp_path: Path, retriever: SkillRetriever, spec: RetrieverSpec
) -> None:
    catalogue = _catalogue(tmp_path, 2)
    with pytest.raises(ValueError, match="needs a RetrieverSpec"):
        map_courses(catalogue, tmp_path / "a.jsonl", retriever, engine="ray", show_progress=False)
    with pytest.raises(ValueError, match="on a Chroma server"):
        map_courses(catalogue, tmp_path / "b.jsonl", spec, engine="ray", show_progress=False)
