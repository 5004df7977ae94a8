"""benchmarks/views_quality.py still runs (300 skills, 10 queries a set); no figure is asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_benchmark

pytestmark = pytest.mark.integration  # a benchmark subprocess


def test_quick_views_benchmark_writes_every_configuration(tmp_path: Path) -> None:
    out = tmp_path / "results"
    command = ["views_quality.py", "--quick", "--out", out, "--cache", tmp_path / "cache"]

    run_benchmark(*command)
    report = json.loads((out / "views_quality.json").read_text(encoding="utf-8"))
    # 2 one-view baselines + 3 view sets x 4 fusions
    assert len(report["configurations"]) == 14
    assert set(report["mrr10_lift_over_label_only"]["label only"].values()) == {0.0}
    assert "| configuration |" in (out / "views_quality.md").read_text(encoding="utf-8")
