"""Kill suite: SIGKILL `course-skills index` at deterministic points of a build, an edit and an
unchanged re-run; the next run must give exactly what an uninterrupted run gives.

The points come from the fault-injection seam (`langchain_course_skills.store._faults`): a traced
run lists every point it passes (after each embedded, written and read page, between the
last write and the record of the completed sync, ...), then one process per chosen point is
killed there by `COURSE_SKILLS_FAULT=kill@N`. Pages of 25 skills give a 300-skill taxonomy
a few dozen points.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from langchain_course_skills.cli import main
from langchain_course_skills.embeddings import E5Embeddings
from langchain_course_skills.store import SYNC_DIGEST_KEY
from langchain_course_skills.testing import build_random_bi_encoder
from tests.conftest import ESCO_EN
from tests.reliability import (
    Snapshot,
    assert_same_store,
    cli_env,
    edited_version,
    read_rows,
    run_cli,
    snapshot,
    write_taxonomy,
)

pytestmark = [pytest.mark.faults, pytest.mark.integration]  # subprocesses, servers

PAGE = "25"  # skills per store request in the killed runs: 12 pages for 300 skills
POINTS = 10  # kill points per run kind, at least
WRITE_POINTS = 12  # of them around writes, spread evenly over those a traced run passes
QUERIES = ("Tabellenkalkulation", "manage a team", "welding", "teach adults", "web design")


def _index(source: Path, db: Path, model: Path, *extra: str) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(["index", str(source), "--db", str(db), "--model", str(model), *extra])


def _spread(items: list[int], wanted: int) -> list[int]:
    """`wanted` of `items` spread evenly, the first and the last included."""
    if len(items) <= wanted:
        return items
    return sorted({items[round(i * (len(items) - 1) / (wanted - 1))] for i in range(wanted)})


def _choose(passed: list[str]) -> list[int]:
    """Point numbers (1-based) to kill at: up to 12 of the points around writes (always the
    ones between the last write and the record of the completed sync) and 3 while reading."""
    steps = [n for n, name in enumerate(passed, 1) if not name.startswith("read:")]
    reads = [n for n, name in enumerate(passed, 1) if name.startswith("read:")]
    critical = [n for n, name in enumerate(passed, 1) if name in ("written", "checked")]
    return sorted(set(_spread(steps, WRITE_POINTS)) | set(critical) | set(_spread(reads, 3)))


@pytest.fixture(scope="module")
def taxonomies(tmp_path_factory: pytest.TempPathFactory, esco_slice: Path) -> tuple[Path, Path]:
    """Version 1 (the 300-skill slice) and version 2 (20 edited, 10 gone, 10 new)."""
    folder = tmp_path_factory.mktemp("kill-taxonomies")
    rows, fields = read_rows(ESCO_EN)
    extra = write_taxonomy(rows[300:340], fields, folder / "extra.csv")
    v2 = edited_version(esco_slice, extra, folder / "v2.csv", changed=20, removed=10, added=10)
    return esco_slice, v2


@pytest.fixture(scope="module")
def spread_model(tmp_path_factory: pytest.TempPathFactory, minilm_path: Path) -> Path:
    """A tiny random bi-encoder with mean pooling: fast, and its rankings have no near-ties
    (the CLS-pooled tiny model ranks by differences of 1e-8, below rounding)."""
    return build_random_bi_encoder(
        tmp_path_factory.mktemp("spread-model"), minilm_path, pooling_mode="mean"
    )


@pytest.fixture(scope="module")
def queries(spread_model: Path) -> np.ndarray:
    embeddings = E5Embeddings(model_name=str(spread_model), precision="fp32")
    return np.asarray([embeddings.embed_query(text) for text in QUERIES])


@pytest.fixture(scope="module")
def references(
    tmp_path_factory: pytest.TempPathFactory,
    taxonomies: tuple[Path, Path],
    spread_model: Path,
    queries: np.ndarray,
) -> dict[str, tuple[Path, Snapshot]]:
    """Uninterrupted runs, each in its own process: v1 built; v1 built then v2 with --prune;
    and the v1 store without the record of its last sync (a re-run must read it all)."""
    folder = tmp_path_factory.mktemp("kill-references")
    v1, v2 = taxonomies
    built, edited, unrecorded = folder / "v1", folder / "v2", folder / "v1-unrecorded"
    assert run_cli("index", v1, "--db", built, "--model", spread_model).returncode == 0
    shutil.copytree(built, edited)
    shutil.copytree(built, unrecorded)
    assert run_cli("index", v2, "--db", edited, "--model", spread_model, "--prune").returncode == 0
    forget = (
        "import chromadb, sys; c = chromadb.PersistentClient(path=sys.argv[1]).get_collection"
        f"('skills'); c.modify(metadata={{**c.metadata, {SYNC_DIGEST_KEY!r}: ''}})"
    )
    subprocess.run([sys.executable, "-c", forget, str(unrecorded)], check=True, env=cli_env())
    scratch = folder / "scratch"
    scratch.mkdir()
    return {
        "v1": (built, snapshot(built, queries, scratch=scratch)),
        "v2": (edited, snapshot(edited, queries, scratch=scratch)),
        "v1-unrecorded": (unrecorded, snapshot(unrecorded, queries, scratch=scratch)),
    }


def _kill_and_resume(
    tmp_path: Path,
    start: Path | None,
    source: Path,
    extra: tuple[str, ...],
    reference: Snapshot,
    model: Path,
    queries: np.ndarray,
) -> tuple[int, float]:
    """Kill one run at each chosen point, resume, compare; return (points, max difference)."""
    trace_db = tmp_path / "trace"
    if start is not None:
        shutil.copytree(start, trace_db)
    trace = tmp_path / "trace.txt"
    env = cli_env(COURSE_SKILLS_PAGE=PAGE, COURSE_SKILLS_FAULT_TRACE=str(trace))
    traced = run_cli("index", source, "--db", trace_db, "--model", model, *extra, env=env)
    assert traced.returncode == 0, traced.stderr[-2000:]
    passed = trace.read_text().split()
    points = _choose(passed)
    worst = 0.0
    for number in points:
        db = tmp_path / f"killed-{number}"
        if start is not None:
            shutil.copytree(start, db)
        env = cli_env(COURSE_SKILLS_PAGE=PAGE, COURSE_SKILLS_FAULT=f"kill@{number}")
        killed = run_cli("index", source, "--db", db, "--model", model, *extra, env=env)
        assert killed.returncode == -9, (number, passed[number - 1], killed.stderr[-2000:])
        assert _index(source, db, model, *extra) == 0, (number, passed[number - 1])
        state = snapshot(db, queries, scratch=tmp_path)
        assert_same_store(state, reference)
        # The resumed store records a completed sync, so the next run takes the fast path.
        assert state.metadata[SYNC_DIGEST_KEY] == reference.metadata[SYNC_DIGEST_KEY]
        worst = max(worst, state.max_embedding_difference(reference))
    print(f"{len(points)} kills at {[passed[n - 1] for n in points]}; max |Δembedding| {worst:.1e}")
    return len(points), worst


def test_killed_build_resumes_to_the_uninterrupted_store(
    tmp_path: Path, taxonomies, references, spread_model: Path, queries: np.ndarray
) -> None:
    v1, _ = taxonomies
    kills, _ = _kill_and_resume(tmp_path, None, v1, (), references["v1"][1], spread_model, queries)
    assert kills >= POINTS


def test_killed_edit_with_prune_resumes_to_the_uninterrupted_store(
    tmp_path: Path, taxonomies, references, spread_model: Path, queries: np.ndarray
) -> None:
    _, v2 = taxonomies
    start, _ = references["v1"]
    kills, _ = _kill_and_resume(
        tmp_path, start, v2, ("--prune",), references["v2"][1], spread_model, queries
    )
    assert kills >= POINTS


def test_killed_unchanged_rerun_leaves_the_store_as_it_was(
    tmp_path: Path, taxonomies, references, spread_model: Path, queries: np.ndarray
) -> None:
    # Two kinds of unchanged re-run: with the record of the last completed sync (it reads no
    # skill: 5 points, all killed) and without it (it reads every stored skill back).
    v1, _ = taxonomies
    start, reference = references["v1"]
    fast, _ = _kill_and_resume(tmp_path / "fast", start, v1, (), reference, spread_model, queries)
    unrecorded, _ = references["v1-unrecorded"]
    full, _ = _kill_and_resume(
        tmp_path / "full", unrecorded, v1, (), reference, spread_model, queries
    )
    assert fast + full >= POINTS
