"""The `course-skills` command line: index, info, search, demo, and its error messages."""

from __future__ import annotations

import csv
import json
import socket
from pathlib import Path

import pytest

from langchain_course_skills.cli import main
from langchain_course_skills.store import HNSW_CONFIGURATION
from tests.conftest import run_cli
from tests.support.cli import SLICE_SIZE, _passages

RESULT_KEYS = [
    "rank",
    "label",
    "uri",
    "taxonomy",
    "similarity",
    "relevance_score",
    "text",
    "evidence",
]
VIEW_KEYS = ["matched_view", "matched_text"]  # records of a store with several views per skill


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens once the socket is closed


# --- index, info, search on an embedded store ------------------------------------------------


def test_index_summary_counts_added_passages_of_the_skills(
    built_db: tuple[Path, str], esco_slice: Path
) -> None:
    _, summary = built_db
    passages = _passages(esco_slice)
    assert f"{passages} added, 0 updated, 0 unchanged, 0 removed" in summary
    assert (
        f"holds {passages} passages of {SLICE_SIZE} skills, views label,alt,description" in summary
    )


def test_info_shows_count_distance_and_fingerprint(
    capsys: pytest.CaptureFixture[str], built_db: tuple[Path, str], tiny_bi_encoder: Path
) -> None:
    db, _ = built_db
    status, out, _ = run_cli(capsys, "info", "--db", db)
    assert status == 0
    assert f"collection 'skills': {SLICE_SIZE} skills (ESCO {SLICE_SIZE})" in out
    assert "cosine" in out
    assert str(tiny_bi_encoder.resolve()) in out
    assert "'query: '" in out
    assert "{preferredLabel}" in out
    assert f"ef_search={HNSW_CONFIGURATION['ef_search']}" in out


def test_info_json_lists_collections(
    capsys: pytest.CaptureFixture[str], built_db: tuple[Path, str], esco_slice: Path
) -> None:
    db, _ = built_db
    status, out, _ = run_cli(capsys, "info", "--db", db, "--json")
    info = json.loads(out)
    assert status == 0
    assert [c["collection"] for c in info["collections"]] == ["skills"]
    assert info["collections"][0]["count"] == _passages(esco_slice)
    assert info["collections"][0]["fingerprint"]["skills"] == SLICE_SIZE
    assert info["collections"][0]["fingerprint"]["dimension"] == 32


def test_search_prints_a_ranked_table_with_the_store_model(
    capsys: pytest.CaptureFixture[str], built_db: tuple[Path, str]
) -> None:
    db, _ = built_db
    # No --model: search uses the model recorded in the store.
    status, out, _ = run_cli(capsys, "search", "manage musical staff", "--db", db, "-k", 5)
    lines = out.splitlines()
    assert status == 0
    assert lines[0].split() == ["rank", "label", "taxonomy", "similarity", "relevance", "URI"]
    assert len(lines) == 1 + 5
    assert lines[1].split()[0] == "1"
    assert "http://data.europa.eu/esco/skill/" in lines[1]


def test_search_json_with_rerank_has_stable_keys(
    capsys: pytest.CaptureFixture[str], built_db: tuple[Path, str], tiny_cross_encoder: Path
) -> None:
    db, _ = built_db
    argv = ["search", "manage musical staff", "--db", db, "-k", 10]
    status, out, _ = run_cli(
        capsys, *argv, "--rerank", "--reranker", tiny_cross_encoder, "--top-n", 3, "--json"
    )
    records = json.loads(out)
    assert status == 0
    assert [r["rank"] for r in records] == [1, 2, 3]
    assert all(list(r) == RESULT_KEYS + VIEW_KEYS for r in records)  # a store of several views
    assert all(isinstance(r["relevance_score"], float) for r in records)
    scores = [r["relevance_score"] for r in records]
    assert scores == sorted(scores, reverse=True)


def test_search_json_without_rerank_has_null_relevance(
    capsys: pytest.CaptureFixture[str], built_db: tuple[Path, str]
) -> None:
    db, _ = built_db
    status, out, _ = run_cli(capsys, "search", "bake bread", "--db", db, "-k", 4, "--json")
    records = json.loads(out)
    assert status == 0
    assert len(records) == 4
    assert all(r["relevance_score"] is None and r["taxonomy"] == "ESCO" for r in records)


def test_search_reads_the_course_from_a_file(
    capsys: pytest.CaptureFixture[str], built_db: tuple[Path, str], tmp_path: Path
) -> None:
    db, _ = built_db
    course = tmp_path / "kurs.txt"
    course.write_text("manage musical staff", encoding="utf-8")
    _, from_argument, _ = run_cli(capsys, "search", "manage musical staff", "--db", db, "--json")
    status, from_file, _ = run_cli(capsys, "search", "--file", course, "--db", db, "--json")
    assert status == 0
    assert json.loads(from_file) == json.loads(from_argument)


def test_search_reads_a_course_longer_than_the_model_in_passages_without_warnings(
    capsys: pytest.CaptureFixture[str], built_db: tuple[Path, str]
) -> None:
    db, _ = built_db
    long_course = "Wir lernen WordPress und bauen Websites. " * 200  # far above 512 tokens
    status, out, err = run_cli(capsys, "search", long_course, "--db", db, "-k", 3, "--json")
    evidence = [record["evidence"] for record in json.loads(out)]
    assert status == 0
    assert err == ""  # neither a truncation warning nor the tokenizer's own
    assert all(0 <= e["start"] < e["end"] <= len(long_course) for e in evidence)
    assert all(e["end"] - e["start"] < len(long_course) for e in evidence)


def test_search_taxonomy_filter_naming_no_stored_taxonomy_says_which_exist(
    capsys: pytest.CaptureFixture[str], built_db: tuple[Path, str]
) -> None:
    db, _ = built_db
    status, _, err = run_cli(capsys, "search", "bake bread", "--db", db, "--taxonomy", "esco")
    assert status == 1
    assert "no skills of taxonomy ['esco']" in err
    assert "['ESCO']" in err


def test_reindex_of_an_unchanged_file_changes_nothing(
    capsys: pytest.CaptureFixture[str], built_db: tuple[Path, str], esco_slice: Path
) -> None:
    db, _ = built_db
    argv = ["search", "manage musical staff", "--db", db, "-k", 10, "--json"]
    _, before, _ = run_cli(capsys, *argv)
    status, summary, _ = run_cli(capsys, "index", esco_slice, "--db", db)
    _, after, _ = run_cli(capsys, *argv)
    assert status == 0
    assert f"0 added, 0 updated, {_passages(esco_slice)} unchanged, 0 removed" in summary
    assert f"of {SLICE_SIZE} skills" in summary
    assert json.loads(after) == json.loads(before)


def test_index_completes_a_partial_store_without_duplicates(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, esco_slice: Path, tiny_bi_encoder: Path
) -> None:
    # What Ctrl-C leaves behind: the first skills written, the rest missing.
    partial = tmp_path / "partial.csv"
    with esco_slice.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    with partial.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows[: 1 + 100])  # header and 100 skills
    db = tmp_path / "db"
    run_cli(capsys, "index", partial, "--db", db, "--model", tiny_bi_encoder)
    status, summary, _ = run_cli(capsys, "index", esco_slice, "--db", db)
    written, passages = _passages(esco_slice, 100), _passages(esco_slice)
    assert status == 0
    assert f"{passages - written} added, 0 updated, {written} unchanged" in summary
    assert f"holds {passages} passages of {SLICE_SIZE} skills" in summary


def test_index_takes_several_sources_and_prunes_across_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_bi_encoder: Path
) -> None:
    own = tmp_path / "own.csv"
    own.write_text("code,name\nx1,Excel\nx2,Word\n", encoding="utf-8")
    labels = tmp_path / "labels_de.csv"  # an ESCO label-only file
    labels.write_text("conceptUri,preferredLabel_de\nu1,Brot backen\n", encoding="utf-8")
    db = tmp_path / "db"
    base = ["--db", db, "--label-column", "name", "--id-column", "code"]
    status, first, _ = run_cli(capsys, "index", own, labels, *base, "--model", tiny_bi_encoder)
    assert status == 0
    assert "3 added" in first
    assert "own.csv: 2 skills (table)" in first
    assert "labels_de.csv: 1 skills (esco)" in first
    status, second, _ = run_cli(capsys, "index", own, *base, "--prune")
    assert status == 0
    assert "0 added, 0 updated, 2 unchanged, 1 removed" in second
    _, out, _ = run_cli(capsys, "info", "--db", db)
    assert "2 skills (own 2)" in out


# --- a Chroma server ------------------------------------------------------------------------


# --- the demo -------------------------------------------------------------------------------


def test_demo_indexes_the_sample_and_prints_ranked_skills(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tiny_bi_encoder: Path,
    tiny_cross_encoder: Path,
) -> None:
    models = ["--model", tiny_bi_encoder, "--reranker", tiny_cross_encoder]
    status, out, _ = run_cli(capsys, "demo", "--db", tmp_path / "demo", *models)
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("rank"))
    assert status == 0
    assert "indexed 194 sample skills" in out
    assert "course: WordPress Grundlagen" in out
    assert len(lines[header + 1 :]) == 10
    assert all("urn:course-skills:sample:" in line for line in lines[header + 1 :])


def test_sample_taxonomy_has_own_uris_and_the_model_card_labels() -> None:
    from importlib import resources

    sample = resources.files("langchain_course_skills") / "data" / "sample_skills_de.csv"
    with resources.as_file(sample) as path, path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    labels = {row["preferredLabel"] for row in rows}
    assert 150 <= len(rows) <= 200
    assert all(row["conceptUri"].startswith("urn:course-skills:sample:") for row in rows)
    assert {
        "WordPress",
        "Website-Wireframe erstellen",
        "Software für Content-Management-Systeme nutzen",
    } <= labels


# --- help -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["index", "search", "info", "demo"])
def test_every_command_has_help_with_examples(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert "examples:" in out
    assert f"course-skills {command}" in out


def test_version_names_the_program(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("course-skills ")


# --- expected errors: one line on stderr, exit 1 --------------------------------------------


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "malformed": ("conceptUri,preferredLabel\nu1,a\nu2,b,c\n", "utf-8"),
        "latin1": ("conceptUri,preferredLabel\nu1,a\nu2,Ärger\n", "latin-1"),
        "yaml": ("skills: []\n", "utf-8"),
        "json": ('{"skills": []}\n', "utf-8"),
        "empty": ("", "utf-8"),
        "table": ("id,name\n1,Python\n", "utf-8"),
        "gold": ('{"query": "Kurs", "relevant": ["no such skill"]}\n', "utf-8"),
        "courses": ("id,title\nk1,Backen\n", "utf-8"),
    }
    suffixes = {"yaml": ".yaml", "json": ".json", "gold": ".jsonl"}
    paths = {}
    for name, (text, encoding) in files.items():
        path = tmp_path / f"{name}{suffixes.get(name, '.csv')}"
        path.write_bytes(text.encode(encoding))
        paths[name] = path
    return paths


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["index", "{tmp}/missing.csv"], "does not exist"),
        (["index", "{malformed}"], "malformed.csv, line 3: more fields"),
        (["index", "{latin1}"], "latin1.csv, line 3: not UTF-8"),
        (["index", "{yaml}"], "unknown taxonomy format '.yaml'"),
        (["index", "{json}"], "not the GRETA competency model"),
        (["index", "{empty}"], "is empty"),
        (["index", "{table}"], "pass --label-column with the column"),
        (["index", "{json}"], "with --taxonomy table)"),
        (["index", "{esco}", "--label-column", "preferedLabel"], "none of the SOURCE files"),
        (["search", "kurs", "--db", "{tmp}/nothing"], "no skill store at"),
        (["info", "--db", "{tmp}/nothing"], "build it first with `course-skills index"),
        (["search", "kurs", "--db", "{db}", "--collection", "other"], "has no collection"),
        (["search", "kurs", "--db", "{db}", "--model", "{ce}"], "was built with model"),
        (["index", "{esco}", "--db", "{db}", "--model", "{ce}"], "was built with model"),
        (["search", "   ", "--db", "{db}"], "the course description is empty"),
        (["search", "--file", "{tmp}/kurs.txt", "--db", "{db}"], "does not exist"),
        (["search", "kurs", "--db", "{db}", "-k", "3", "--rerank", "--top-n", "5"], "raise -k"),
        # refused before a model is loaded (the model named cannot be loaded) or anything embedded
        (
            ["search", "kurs", "--db", "{db}", "--taxonomy", "esco", "--model", "isy-thl/none"],
            "no skills of taxonomy ['esco'] (names are case-sensitive); it has ['ESCO']",
        ),
        (
            ["map", "{courses}", "-o", "{tmp}/out.jsonl", "--db", "{db}", "--taxonomy", "esco"]
            + ["--model", "isy-thl/none"],
            "no skills of taxonomy ['esco']",
        ),
        (
            ["evaluate", "{gold}", "--db", "{db}", "--model", "isy-thl/none"],
            "line 1 (id ",
        ),
        (
            ["evaluate", "{gold}", "--db", "{tmp}/new-eval", "--taxonomy-file", "{esco}"]
            + ["--model", "isy-thl/none"],
            "are neither a skill id nor a skill label",
        ),
        (["info", "--chroma-url", "{dead}"], "cannot reach the Chroma server"),
        (["search", "kurs", "--chroma-url", "not a url:x"], "is not a URL"),
        (
            ["index", "{esco}", "--db", "{tmp}/new", "--model", "isy-thl/not-a-model"],
            "--model DIR",
        ),
        (
            ["search", "kurs", "--db", "{db}", "--rerank", "--reranker", "isy-thl/not-a-model"],
            "--reranker DIR",
        ),
    ],
)
def test_expected_errors_print_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    built_db: tuple[Path, str],
    esco_slice: Path,
    tiny_cross_encoder: Path,
    argv: list[str],
    expected: str,
) -> None:
    db, _ = built_db
    values = {
        "tmp": str(tmp_path),
        "db": str(db),
        "esco": str(esco_slice),
        "ce": str(tiny_cross_encoder),
        "dead": _dead_url(),
        **{name: str(path) for name, path in _bad_files(tmp_path).items()},
    }
    status, _, err = run_cli(capsys, *(arg.format(**values) for arg in argv))
    assert status == 1
    assert err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1
    assert expected in err
    assert not (tmp_path / "new").exists()  # a failed index creates no store


# --- as a real process ----------------------------------------------------------------------


@pytest.mark.parametrize("score", ["1.5", "-0.2", "much"])
def test_a_min_score_outside_zero_to_one_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], score: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        run_cli(capsys, "search", "kurs", "--min-score", score)

    assert exited.value.code == 2
    assert "expected a score between 0 and 1" in capsys.readouterr().err
