"""The serve load benchmark still runs (tiny models, two short variants).

No timing is asserted: speed is measured by `benchmarks/serve_load.py`, not by tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_benchmark

pytestmark = pytest.mark.integration  # a benchmark subprocess


def test_quick_serve_load_answers_without_errors_and_sheds_overload(tmp_path: Path) -> None:
    out = tmp_path / "results"

    run_benchmark(
        "serve_load.py", "--quick", "--seconds", "2", "--out", out, "--work", tmp_path / "work"
    )
    results = json.loads((out / "serve_load.json").read_text(encoding="utf-8"))
    first, overload = results["variants"]["first stage"], results["variants"]["overload"]
    assert first["answered"] > 0 and first["errors"] == 0 and first["shed_503"] == 0
    assert overload["errors"] == 0  # beyond the queue: 503 with Retry-After, nothing else
    assert "| first stage | 8 | 1 | embedded |" in (out / "serve_load.md").read_text()
