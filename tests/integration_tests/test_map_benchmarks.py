"""The long-text, mapping-throughput and verdict benchmarks still run (quick mode: slices).

No timing is asserted: speed is measured by the benchmarks, not by tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langchain_course_skills.models.backends import onednn_is_faster
from langchain_course_skills.store import MAX_RESULTS
from tests.conftest import run_benchmark

pytestmark = pytest.mark.integration  # benchmark subprocesses


def _quick(script: str, tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / "results"
    run_benchmark(script, "--quick", "--out", out, *extra)
    name = script.removesuffix(".py")
    assert (out / f"{name}.md").stat().st_size > 0
    return json.loads((out / f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_quick_long_text_benchmark_compares_truncation_with_the_passage_path(
    tmp_path: Path,
) -> None:
    results = _quick("long_texts.py", tmp_path)

    assert "truncation" in results["variants"]
    assert results["target"]["variant"] in results["variants"]
    assert results["short_texts"]["same_ranking"] == results["short_texts"]["texts"]
    assert all(figures["buckets"] for figures in results["variants"].values())


@pytest.mark.slow
def test_quick_map_throughput_benchmark_compares_map_with_an_invoke_loop(tmp_path: Path) -> None:
    results = _quick("map_throughput.py", tmp_path, "--models", str(tmp_path / "models"))

    assert {(row["kind"], row["rerank"]) for row in results["rows"]} == {
        ("short", False),
        ("short", True),
        ("long", False),
        ("long", True),
    }
    assert all(row["map"]["per_s"] > 0 and row["loop"]["per_s"] > 0 for row in results["rows"])


@pytest.mark.slow
def test_quick_long_text_cost_benchmark_counts_requests_sized_by_their_results(
    tmp_path: Path,
) -> None:
    results = _quick("long_text_cost.py", tmp_path, "--models", str(tmp_path / "models"))

    short, long = results["courses"]
    assert short["passages"] == 1 and long["passages"] > 1
    assert all(0 < row["largest_request"] <= MAX_RESULTS for row in results["courses"])
    assert all(row["skills"] == results["top_n"] for row in results["courses"])


@pytest.mark.slow
def test_quick_default_store_build_benchmark_compares_the_recipe_with_every_view(
    tmp_path: Path,
) -> None:
    results = _quick("default_store_build.py", tmp_path, "--models", str(tmp_path / "models"))

    builds = results["builds"]
    assert builds["ours"]["passages"] > builds["recipe"]["passages"] == builds["skills"]
    assert builds["ours"]["embedded"] <= builds["ours"]["passages"]
    assert builds["ours_order"][0] == "ours" and "ours, openvino extra" in builds["ours_order"]
    assert all(builds[name]["seconds"] > 0 for name in ("recipe", *builds["ours_order"]))
    assert set(results["batching"]["seconds"]) == {
        "32 passages",
        "256 tokens",
        "512 tokens",
        "1024 tokens",
    }


@pytest.mark.slow
def test_quick_catalogue_rerank_benchmark_compares_map_with_the_recipe_loop(
    tmp_path: Path,
) -> None:
    results = _quick("catalogue_rerank.py", tmp_path, "--models", str(tmp_path / "models"))

    names = [row["name"] for row in results["rows"]]
    lean = ["onednn"] if onednn_is_faster() else []  # what auto runs without extras
    backends = ["torch", *lean, "auto"]
    assert names == ["recipe loop", *(f"map_courses, backend {b}" for b in backends)]
    assert all(row["per_s"] > 0 for row in results["rows"])
    assert results["rows"][0]["same_order"] == results["courses"]
    assert all(0 <= row["same_up_to_ties"] <= results["courses"] for row in results["rows"])


def test_quick_verdict_nudge_scores_every_mode_on_held_out_gold(tmp_path: Path) -> None:
    results = _quick("verdict_nudge.py", tmp_path)

    for row in results["sets"].values():
        assert 0 < row["counted"] <= row["sentences"]
        assert {"as_is", "both 0.1", "raise 0.1", "lower 0.1"} <= set(row)
        assert 0 <= row["as_is"]["mrr@10"] <= 100
