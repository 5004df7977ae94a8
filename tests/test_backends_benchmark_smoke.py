"""benchmarks/backends.py still runs (tiny models, slices); no timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_backends_benchmark_writes_every_part(tmp_path: Path) -> None:
    out = tmp_path / "results"
    command = [sys.executable, str(ROOT / "benchmarks" / "backends.py"), "--quick"]
    command += ["--out", str(out), "--models", str(tmp_path / "models")]

    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "backends.json").read_text(encoding="utf-8"))
    variants = results["bi_encoder"][0]["variants"]
    assert {"torch fp32", "torch bf16", "onnx O2 fp32"} <= set(variants)
    assert variants["onnx O2 fp32"]["cosine_to_torch_fp32"]["min"] >= 0.9999
    assert results["cross_encoder"]["variants"]["onnx O2 fp32"]["max_abs_score_difference"] < 1e-3
    assert all(per_set for per_set in results["quality"]["sets"].values())
    assert [row["course_tokens"] for row in results["pair_length"]["rows"]]
    assert "## Pair length" in (out / "backends.md").read_text(encoding="utf-8")
