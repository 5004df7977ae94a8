"""Curators' verdicts change what search and map propose: rejected out, accepted kept."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from langchain_course_skills import SkillRetriever, load_esco_skills
from langchain_course_skills.cli import main
from langchain_course_skills.courses import Course, read_courses
from langchain_course_skills.embeddings import E5Embeddings
from langchain_course_skills.feedback import FeedbackStore, default_feedback_path
from langchain_course_skills.mapping import RetrieverSpec, map_courses
from langchain_course_skills.store import open_skill_store, skill_vectors
from langchain_course_skills.verdicts import apply_verdicts

TEXT = "Learn to manage musical staff and lead the orchestra"


def _records(*uris: str) -> list[dict[str, object]]:
    return [
        {"rank": rank, "uri": uri, "label": uri, "taxonomy": "ESCO", "similarity": 0.5}
        for rank, uri in enumerate(uris, start=1)
    ]


def _judge(store: FeedbackStore, text: str, uri: str, verdict: str) -> None:
    store.record(text=text, uri=uri, label=f"label {uri}", taxonomy="ESCO", verdict=verdict)  # type: ignore[arg-type]


def test_rejected_skills_are_left_out_and_accepted_ones_marked(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "f.sqlite3")
    _judge(store, TEXT, "a", "rejected")
    _judge(store, TEXT, "b", "accepted")
    _judge(store, TEXT, "z", "accepted")  # not among the results
    records = _records("a", "b", "c")
    verdicts = store.course_verdicts([f" {TEXT}\n"])[0]  # the stripped text counts

    applied = apply_verdicts(records, verdicts)
    kept = apply_verdicts(records, verdicts, keep_rejected=True)
    curated = apply_verdicts(records, verdicts, keep_accepted=True)
    other = apply_verdicts(records, verdicts, keep_accepted=True, taxonomies=["GRETA"])

    assert [(r["rank"], r["uri"], r.get("verdict")) for r in applied] == [
        (1, "b", "accepted"),
        (2, "c", None),
    ]
    assert [r.get("verdict") for r in kept] == ["rejected", "accepted", None]
    assert [(r["uri"], r["similarity"], r["verdict"]) for r in curated[2:]] == [
        ("z", None, "accepted")
    ]
    assert curated[2]["label"] == "label z"
    assert len(other) == 2  # an accepted skill of another taxonomy is not added
    assert records == _records("a", "b", "c")  # the records given are not changed


def test_skill_vectors_reads_each_skills_stored_vector(
    esco_db: Path, tiny_embeddings: E5Embeddings
) -> None:
    store = open_skill_store(tiny_embeddings, persist_directory=esco_db)
    stored = store.get(limit=50, include=["embeddings"])
    skills = {i: list(v) for i, v in zip(stored["ids"], stored["embeddings"]) if "#" not in i}

    vectors = skill_vectors(store, [*skills, "not-a-skill"])

    assert skills and sorted(vectors) == sorted(skills)  # main passages, by skill id
    for skill, vector in skills.items():
        assert vectors[skill] == pytest.approx(vector)


@pytest.fixture(scope="module")
def retriever(esco_db: Path, tiny_bi_encoder: Path) -> SkillRetriever:
    spec = RetrieverSpec(
        model=str(tiny_bi_encoder), persist_directory=str(esco_db), k=10, top_n=4, precision="fp32"
    )
    return spec.build()


def _catalogue(folder: Path) -> list[Course]:
    path = folder / "catalogue.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "description"])
        for i in range(4):
            writer.writerow([f"c{i}", f"Course {i}", f"Learn to manage musical staff, lesson {i}."])
    return [course for course in read_courses(path) if isinstance(course, Course)]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_map_rerun_applies_new_verdicts_and_keeps_accepted_skills(
    tmp_path: Path, retriever: SkillRetriever, esco_slice: Path, suffix: str
) -> None:
    courses, out = _catalogue(tmp_path), tmp_path / f"skills{suffix}"
    feedback = FeedbackStore(tmp_path / "f.sqlite3")
    map_courses(courses, out, retriever, show_progress=False, feedback=feedback)
    first = _skills(out)
    rejected = first["c1"][0][0]
    shown = {uri for uri, _ in first["c1"]}
    missed = next(
        str(doc.id) for doc in load_esco_skills(esco_slice) if str(doc.id) not in shown
    )  # a skill the model missed, accepted by the curator
    _judge(feedback, courses[1].text, rejected, "rejected")
    _judge(feedback, courses[1].text, missed, "accepted")

    report = map_courses(courses, out, retriever, show_progress=False, feedback=feedback)
    again = map_courses(courses, out, retriever, show_progress=False, feedback=feedback)
    plain = map_courses(courses, tmp_path / f"plain{suffix}", retriever, show_progress=False)

    after = _skills(out)
    assert (report.mapped, report.skipped) == (1, 3)  # only the judged course again
    assert (again.mapped, again.skipped) == (1, 3)
    assert [uri for uri, _ in after["c1"]] == [uri for uri, _ in first["c1"][1:]] + [missed]
    assert after["c1"][-1] == (missed, "accepted")
    assert {c: s for c, s in after.items() if c != "c1"} == {
        c: s for c, s in first.items() if c != "c1"
    }
    assert plain.mapped == 4 and _skills(tmp_path / f"plain{suffix}")["c1"][0][0] == rejected


def _skills(path: Path) -> dict[str, list[tuple[str, str | None]]]:
    """Course id -> (uri, verdict) of its skills, best first, from a map output."""
    found: dict[str, list[tuple[str, str | None]]] = {}
    if path.suffix == ".jsonl":
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            found[record["id"]] = [(s["uri"], s.get("verdict")) for s in record["skills"]]
        return found
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            found.setdefault(row["id"], []).append((row["uri"], row["verdict"] or None))
    return found


def test_cli_search_applies_the_verdicts_beside_the_store(
    esco_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["search", TEXT, "--db", str(esco_db), "-k", "10", "--precision", "fp32", "--json"]
    assert main(args) == 0
    before = json.loads(capsys.readouterr().out)
    feedback = FeedbackStore(default_feedback_path(esco_db))
    _judge(feedback, TEXT, before[0]["uri"], "rejected")
    _judge(feedback, TEXT, before[1]["uri"], "accepted")

    assert main(args) == 0
    after = json.loads(capsys.readouterr().out)
    assert main([*args, "--keep-rejected"]) == 0
    kept = json.loads(capsys.readouterr().out)
    assert main(args[:-1] + ["--keep-rejected"]) == 0
    table = capsys.readouterr().out

    assert [s["uri"] for s in after] == [s["uri"] for s in before[1:]]
    assert [s.get("verdict") for s in after[:2]] == ["accepted", None]
    assert [s.get("verdict") for s in kept[:2]] == ["rejected", "accepted"]
    assert table.splitlines()[0].split()[-2:] == ["verdict", "URI"]


def test_cli_search_with_a_missing_feedback_file_is_one_line(
    esco_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["search", TEXT, "--db", str(esco_db), "--feedback", str(tmp_path / "none.sqlite3")]
    )

    error = capsys.readouterr().err
    assert status == 1
    assert error.startswith("error: no feedback database at ")
    assert len(error.strip().splitlines()) == 1
