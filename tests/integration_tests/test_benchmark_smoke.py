"""The benchmark still runs (tiny models, slices), and the store fast paths it measures hold.

No timing is asserted: speed is measured by `benchmarks/run.py`, not by tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


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
