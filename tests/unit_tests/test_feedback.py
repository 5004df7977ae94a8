"""Curators' verdicts: the SQLite store (durable, several processes), the gold export, the CLI."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from langchain_course_skills import build_skill_store, load_esco_skills
from langchain_course_skills.cli import main
from langchain_course_skills.embeddings import E5Embeddings
from langchain_course_skills.evaluation.gold import load_gold
from langchain_course_skills.feedback import (
    FeedbackError,
    FeedbackStore,
    default_feedback_path,
    export_gold,
    text_sha256,
)
from langchain_course_skills.finetune.pairs import read_alignments
from tests.support.feedback import COURSE, URIS

OTHER = "Baking: bread and pastries"
WRITERS, PER_WRITER = 4, 25  # processes writing at once, verdicts each


def _record(store: FeedbackStore, text: str, uri: str, verdict: str, **extra: object) -> None:
    store.record(text=text, uri=uri, label=uri[-1], taxonomy="ESCO", verdict=verdict, **extra)  # type: ignore[arg-type]


def _write_many(path: str, writer: int) -> None:
    store = FeedbackStore(path)
    for index in range(PER_WRITER):
        _record(store, f"course {writer}", f"urn:skill:{writer}:{index}", "accepted")


def test_the_latest_verdict_on_a_pair_counts(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "f.sqlite3")
    _record(store, COURSE, URIS[0], "accepted")
    _record(store, COURSE, URIS[1], "accepted")
    _record(store, COURSE, URIS[0], "rejected")

    assert store.verdicts(f"\n{COURSE}  ") == {URIS[0]: "rejected", URIS[1]: "accepted"}
    assert store.counts() == {"accepted": 1, "rejected": 1}
    assert store.verdicts(OTHER) == {}


def test_the_database_is_in_wal_mode_and_keeps_every_verdict(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"
    store = FeedbackStore(path)
    _record(store, COURSE, URIS[0], "accepted")
    _record(store, COURSE, URIS[0], "rejected")

    with sqlite3.connect(path) as connection:
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        rows = connection.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]

    assert mode == "wal"
    assert rows == 2  # appended, not overwritten


def test_several_processes_write_at_once_without_losing_a_verdict(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"
    FeedbackStore(path)
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_many, args=(str(path), n)) for n in range(WRITERS)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(120)

    assert [p.exitcode for p in writers] == [0] * WRITERS
    assert FeedbackStore(path).counts()["accepted"] == WRITERS * PER_WRITER


def test_default_path_lies_beside_the_store_folder(tmp_path: Path) -> None:
    assert default_feedback_path(tmp_path / "skills-db") == tmp_path / "skills-db-feedback.sqlite3"
    assert default_feedback_path(None).name == "course-skills-feedback.sqlite3"


def test_export_writes_every_judged_course_with_its_rejections_as_negatives(
    tmp_path: Path,
) -> None:
    store = FeedbackStore(tmp_path / "f.sqlite3")
    _record(store, COURSE, URIS[0], "accepted", course_id="K-17")
    _record(store, COURSE, URIS[1], "accepted")
    _record(store, COURSE, URIS[2], "rejected")
    _record(store, OTHER, URIS[0], "rejected", course_id="K-18")  # rejections only: kept

    report = export_gold(store, tmp_path / "gold.jsonl")

    lines = [json.loads(line) for line in report.path.read_text(encoding="utf-8").splitlines()]
    assert (report.courses, report.accepted, report.rejected, report.rejected_only) == (2, 2, 2, 1)
    assert lines == [
        {"id": "K-17", "query": COURSE, "relevant": URIS[:2], "neg": [URIS[2]]},
        {"id": "K-18", "query": OTHER, "relevant": [], "neg": [URIS[0]]},
    ]
    gold = load_gold(report.path)  # what `evaluate` reads: the rejection-only line has no metrics
    assert [(q.query_id, q.relevant) for q in gold] == [("K-17", tuple(URIS[:2]))]


def test_export_names_courses_without_an_id_by_their_text_hash(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "f.sqlite3")
    _record(store, OTHER, URIS[0], "accepted")

    report = export_gold(store, tmp_path / "gold.jsonl", negatives=False)

    line = json.loads(report.path.read_text(encoding="utf-8"))
    assert line == {"id": f"text-{text_sha256(OTHER)[:12]}", "query": OTHER, "relevant": [URIS[0]]}


def test_export_without_a_verdict_says_so(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "f.sqlite3")

    with pytest.raises(FeedbackError, match="no verdict yet"):
        export_gold(store, tmp_path / "gold.jsonl")
    _record(store, COURSE, URIS[0], "rejected")
    with pytest.raises(FeedbackError, match="no accepted skill yet"):
        export_gold(store, tmp_path / "gold.jsonl", negatives=False)
    assert not (tmp_path / "gold.jsonl").exists()


def test_export_keeps_each_curators_verdicts_and_measures_their_agreement(
    tmp_path: Path,
) -> None:
    store = FeedbackStore(tmp_path / "f.sqlite3")
    _record(store, COURSE, URIS[0], "accepted", curator="ana")
    _record(store, COURSE, URIS[0], "accepted", curator="ben")
    _record(store, COURSE, URIS[1], "accepted", curator="ana")
    _record(store, COURSE, URIS[1], "rejected", curator="ben")  # the latest on the pair
    _record(store, COURSE, URIS[2], "rejected", curator=" ana ")

    report = export_gold(store, tmp_path / "gold.jsonl")
    mine = export_gold(store, tmp_path / "ana.jsonl", curator="ana")

    [line] = [json.loads(text) for text in report.path.read_text(encoding="utf-8").splitlines()]
    assert (line["relevant"], line["neg"]) == ([URIS[0]], [URIS[1], URIS[2]])
    assert line["curators"] == {
        "ana": {"accepted": URIS[:2], "rejected": [URIS[2]]},
        "ben": {"accepted": [URIS[0]], "rejected": [URIS[1]]},
    }
    assert report.curators == {"ana": 3, "ben": 2}
    assert (report.agreement.pairs, report.agreement.agreeing) == (2, 1)
    [pair] = report.agreement.by_curators
    assert (pair.curators, pair.pairs, pair.agreeing) == (("ana", "ben"), 2, 1)
    [own] = [json.loads(text) for text in mine.path.read_text(encoding="utf-8").splitlines()]
    assert (own["relevant"], own["neg"]) == (URIS[:2], [URIS[2]])
    with pytest.raises(FeedbackError, match=r"no verdict by curator 'cleo'.*\['ana', 'ben'\]"):
        export_gold(store, tmp_path / "cleo.jsonl", curator="cleo")


def test_a_version_1_database_gains_the_curator_column_and_keeps_its_verdicts(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v1.sqlite3"
    with sqlite3.connect(path) as connection:  # the first schema, as an older release wrote it
        connection.executescript(
            """
            CREATE TABLE courses (text_sha256 TEXT PRIMARY KEY, text TEXT NOT NULL,
                                  course_id TEXT, first_seen TEXT NOT NULL);
            CREATE TABLE verdicts (id INTEGER PRIMARY KEY AUTOINCREMENT,
                text_sha256 TEXT NOT NULL REFERENCES courses (text_sha256), uri TEXT NOT NULL,
                label TEXT NOT NULL, taxonomy TEXT NOT NULL, verdict TEXT NOT NULL,
                similarity REAL, relevance_score REAL, evidence_start INTEGER,
                evidence_end INTEGER, created_at TEXT NOT NULL);
            PRAGMA user_version=1;
            """
        )
        connection.execute(
            "INSERT INTO courses VALUES (?, ?, 'K-1', '2026-01-01T00:00:00+00:00')",
            (text_sha256(COURSE), COURSE),
        )
        connection.execute(
            "INSERT INTO verdicts (text_sha256, uri, label, taxonomy, verdict, created_at) "
            "VALUES (?, ?, 'a', 'ESCO', 'accepted', '2026-01-01T00:00:00+00:00')",
            (text_sha256(COURSE), URIS[0]),
        )

    store = FeedbackStore(path)
    _record(store, COURSE, URIS[1], "rejected", curator="ana")

    assert store.verdicts(COURSE) == {URIS[0]: "accepted", URIS[1]: "rejected"}
    assert [row[3].curator for row in store.latest()] == [None, "ana"]
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 2


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "notes.sqlite3"
    bad.write_text("not a database, just text " * 100, encoding="utf-8")

    with pytest.raises(FeedbackError, match="is not a feedback database"):
        FeedbackStore(bad)


# --- the loop: export, evaluate, fine-tune ------------------------------------------------------


@pytest.fixture(scope="module")
def slice_db(
    tmp_path_factory: pytest.TempPathFactory, esco_slice: Path, tiny_embeddings: E5Embeddings
) -> Path:
    db = tmp_path_factory.mktemp("feedback") / "skills-db"
    build_skill_store(
        load_esco_skills(esco_slice), tiny_embeddings, persist_directory=db, show_progress=False
    )
    return db


def test_cli_export_feeds_evaluate_and_finetune(
    capsys: pytest.CaptureFixture[str], slice_db: Path, esco_slice: Path, tmp_path: Path
) -> None:
    documents = load_esco_skills(esco_slice)
    uris = [str(doc.id) for doc in documents[:3]]
    store = FeedbackStore(default_feedback_path(slice_db))
    _record(store, COURSE, uris[0], "accepted", curator="ana")
    _record(store, COURSE, uris[0], "accepted", curator="ben")
    _record(store, COURSE, uris[1], "accepted")
    _record(store, COURSE, uris[2], "rejected")
    _record(store, OTHER, uris[1], "rejected")  # rejections only: exported, not scored
    gold = tmp_path / "gold.jsonl"

    exported = main(["feedback", "export", "--db", str(slice_db), "--out", str(gold)])
    printed = capsys.readouterr().out
    evaluated = main(["evaluate", str(gold), "--db", str(slice_db), "--out", str(tmp_path / "e")])
    examples = read_alignments(gold, documents)  # what `finetune --train` reads

    assert exported == 0
    assert (
        "wrote 2 course(s) (1 with rejections only) with 2 accepted skill(s), "
        "2 rejected as negatives" in printed
    )
    assert "pairs judged per curator: ana 1, ben 1" in printed
    assert "curators agree on 1 of 1 pairs judged by two or more (100%); ana and ben: 1 of 1" in (
        printed
    )
    assert evaluated == 0
    assert {e.positive_id for e in examples} == set(uris[:2])
    assert all(e.negative_ids == (uris[2],) for e in examples)
    scored = (tmp_path / "e" / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(scored) == 1  # the one curated course was scored


def test_cli_export_without_a_database_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status = main(["feedback", "export", "--db", str(tmp_path / "nowhere"), "--out", "g.jsonl"])

    error = capsys.readouterr().err
    assert status == 1
    assert error.startswith("error: no feedback database at ")
    assert len(error.strip().splitlines()) == 1
