"""benchmarks/backends.py still runs (tiny models, slices); no timing is asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_benchmark

pytestmark = pytest.mark.integration  # a benchmark subprocess


def test_quick_backends_benchmark_writes_every_part(tmp_path: Path) -> None:
    out = tmp_path / "results"
    run_benchmark("backends.py", "--quick", "--out", out, "--models", tmp_path / "models")

    results = json.loads((out / "backends.json").read_text(encoding="utf-8"))
    variants = results["bi_encoder"][0]["variants"]
    assert {"torch fp32", "torch bf16", "onnx O2 fp32"} <= set(variants)
    assert variants["onnx O2 fp32"]["cosine_to_torch_fp32"]["min"] >= 0.9999
    assert results["cross_encoder"]["variants"]["onnx O2 fp32"]["max_abs_score_difference"] < 1e-3
    assert all(per_set for per_set in results["quality"]["sets"].values())
    assert [row["course_tokens"] for row in results["pair_length"]["rows"]]
    assert "## Pair length" in (out / "backends.md").read_text(encoding="utf-8")


def test_quick_ef_search_benchmark_reports_recall_per_setting(tmp_path: Path) -> None:
    out = tmp_path / "results"
    run_benchmark("ef_search.py", "--quick", "--out", out)

    results = json.loads((out / "ef_search.json").read_text(encoding="utf-8"))
    assert [row["ef_search"] for row in results["rows"]] == [64, 128, 256, 512, 1024]
    assert all(0 < row["top30"]["recall_mean"] <= 1 for row in results["rows"])
    assert "| 512 |" in (out / "ef_search.md").read_text(encoding="utf-8")
