"""The benchmark still runs (tiny models, slices), and the store fast paths it measures hold.

No timing is asserted: speed is measured by `benchmarks/run.py`, not by tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import chromadb
import pytest
from langchain_core.documents import Document

from langchain_course_skills import E5Embeddings, sync_skill_store
from langchain_course_skills.store import (
    HNSW_CONFIGURATION,
    SYNC_COUNT_KEY,
    SYNC_DIGEST_KEY,
    SyncReport,
    read_fingerprint,
    skill_collection,
)

ROOT = Path(__file__).resolve().parents[1]


def _skills(*texts: str, **extra: object) -> list[Document]:
    return [
        Document(id=f"urn:test:{i}", page_content=text, metadata={"label": text, **extra})
        for i, text in enumerate(texts)
    ]


def _sync(docs: list[Document], embeddings: E5Embeddings, path: Path, **kwargs: Any) -> SyncReport:
    return sync_skill_store(docs, embeddings, persist_directory=path, show_progress=False, **kwargs)


@pytest.mark.integration  # a subprocess
def test_quick_benchmark_writes_json_markdown_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "results"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}

    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--quick",
            "--out",
            str(out),
            "--models",
            str(tmp_path / "models"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "benchmark.json").read_text(encoding="utf-8"))
    assert {"index", "rerun", "query", "rerank", "quality", "ablation", "sweeps"} <= set(results)
    assert results["rerun"]["minilm"]["ours"]["duplicates"] == 0
    # The recipe's Chroma.from_documents adds every skill again on a re-run.
    assert (
        results["rerun"]["minilm"]["recipe"]["duplicates"] == results["rerun"]["minilm"]["passages"]
    )
    assert all(figures["queries"] > 0 for figures in results["quality"]["sets"].values())
    assert results["targets"] and all("met" in row for row in results["targets"])
    assert results["ceiling"]["fp32"]["gflops"] > 0 and results["ceiling"]["bf16"]["gflops"] > 0
    assert results["index"]["e5"]["ceiling_fraction"] > 0
    assert results["rerank"]["medium"]["ceiling_fraction"] > 0
    assert any("fraction of the" in row["target"] for row in results["targets"])
    assert "| target | goal | measured | met |" in (out / "benchmark.md").read_text()
    assert (out / "sweep_taxonomy.png").stat().st_size > 0
    assert (out / "sweep_length.png").stat().st_size > 0


def test_rerun_of_an_unchanged_taxonomy_records_a_digest_and_changes_nothing(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    docs = _skills("WordPress", "SQL", "Python")
    _sync(docs, tiny_embeddings, tmp_path)

    again = _sync(docs, tiny_embeddings, tmp_path)

    metadata = skill_collection(again.store).metadata
    assert (again.added, again.updated, again.unchanged, again.removed) == (0, 0, 3, 0)
    assert skill_collection(again.store).count() == 3
    assert metadata[SYNC_DIGEST_KEY] and metadata[SYNC_COUNT_KEY] == 3


def test_skill_deleted_outside_a_sync_is_written_again(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    docs = _skills("WordPress", "SQL", "Python")
    first = _sync(docs, tiny_embeddings, tmp_path)
    skill_collection(first.store).delete(ids=["urn:test:1"])

    again = _sync(docs, tiny_embeddings, tmp_path)

    assert (again.added, again.unchanged) == (1, 2)
    assert skill_collection(again.store).count() == 3


def test_prune_after_a_partial_taxonomy_still_removes_the_rest(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    # Same digest and count as the last sync, but prune must still drop the extra skill.
    docs = _skills("WordPress", "SQL", "Python")
    _sync(docs, tiny_embeddings, tmp_path)
    _sync(docs[:2], tiny_embeddings, tmp_path)

    pruned = _sync(docs[:2], tiny_embeddings, tmp_path, prune=True)

    assert pruned.removed == 1
    assert skill_collection(pruned.store).count() == 2


def test_an_interrupted_sync_is_completed_by_the_next_run(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    old = _skills("WordPress", "SQL", "Python", "Projektmanagement")
    _sync(old, tiny_embeddings, tmp_path)
    new = _skills("WordPress 6", "SQL 2", "Python 3", "Projektmanagement und Führung")
    new[-1].metadata["bad"] = {"nested": "Chroma refuses this"}  # the longest: the last batch
    with pytest.raises(Exception):  # noqa: B017 - whatever Chroma raises, it stops here
        _sync(new, tiny_embeddings, tmp_path, batch_size=2)

    repaired = _sync(old, tiny_embeddings, tmp_path)

    stored = skill_collection(repaired.store).get(include=["documents"])
    assert repaired.updated == 2  # the two skills the interrupted run had rewritten
    assert sorted(stored["documents"]) == sorted(doc.page_content for doc in old)


def test_fingerprint_records_the_collection_own_hnsw_settings(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    client = chromadb.PersistentClient(path=str(tmp_path))
    client.create_collection(
        "skills",
        configuration={"hnsw": {"space": "cosine", "ef_search": 64}},
        embedding_function=None,
    )

    report = sync_skill_store(
        _skills("WordPress"), tiny_embeddings, client=client, show_progress=False
    )

    fingerprint = read_fingerprint(skill_collection(report.store))
    assert fingerprint["hnsw_ef_search"] == "64"
    assert fingerprint["hnsw_space"] == "cosine"
    assert HNSW_CONFIGURATION["ef_search"] != 64


@pytest.mark.integration  # a subprocess
def test_quick_precision_probe_measures_every_variant(tmp_path: Path) -> None:
    out, models = tmp_path / "results", tmp_path / "models"

    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "precision_probe.py"),
            "--quick",
            "--reps",
            "1",
            "--models",
            str(models),
            "--reranker",
            str(models / "ce-tiny"),  # built by the probe before it is loaded
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "precision_probe.json").read_text(encoding="utf-8"))
    variants = {"fp32", "bf16", "bf16-autocast", "int8"}
    for part in ("index", "rerank", "retrieval", "reranked"):
        assert set(results[part]) == variants, part
    assert results["index"]["fp32"]["max_abs_difference"] == 0.0
    # int8 is an approximation of the same model, not a different one.
    assert results["index"]["int8"]["max_abs_difference"] < 0.5
    assert "| int8 |" in (out / "precision_probe.md").read_text(encoding="utf-8")


@pytest.mark.integration  # a subprocess
def test_quick_cli_startup_benchmark_times_every_command(tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cli_startup.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )

    assert result.returncode == 0, result.stderr
    results = json.loads((out / "cli_startup.json").read_text(encoding="utf-8"))["results"]
    assert "course-skills --help" in results
    assert all(r["n"] == 2 for r in results.values())


@pytest.mark.integration  # a subprocess
def test_quick_precision_decision_reports_paired_intervals(tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "precision_decision.py"),
            "--quick",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=600,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((out / "precision_decision.json").read_text(encoding="utf-8"))
    retrieval = results["comparisons"]["MiniLM | retrieval"]["torch bf16"]
    assert set(retrieval) == {"tech", "house", "esco-descriptions", "esco-alt-labels"}
    low, high = retrieval["tech"]["rp@5"]["ci95"]
    assert low <= retrieval["tech"]["rp@5"]["mean"] <= high
