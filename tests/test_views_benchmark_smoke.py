"""benchmarks/views_quality.py still runs (300 skills, 10 queries a set); no figure is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_views_benchmark_writes_every_configuration(tmp_path: Path) -> None:
    out = tmp_path / "results"
    command = [sys.executable, str(ROOT / "benchmarks" / "views_quality.py"), "--quick"]
    command += ["--out", str(out), "--cache", str(tmp_path / "cache")]

    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=900,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "views_quality.json").read_text(encoding="utf-8"))
    # 2 one-view baselines + 3 view sets x 3 fusions
    assert len(report["configurations"]) == 11
    assert set(report["mrr10_lift_over_label_only"]["label only"].values()) == {0.0}
    assert "| configuration |" in (out / "views_quality.md").read_text(encoding="utf-8")
