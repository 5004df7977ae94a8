"""Mapping a catalogue: formats, failures, resume after a real kill, and Ray against local."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import chromadb
import pytest

from langchain_course_skills import (
    E5Embeddings,
    build_skill_store,
    load_esco_skills,
)
from langchain_course_skills.mapping import RayOptions, RetrieverSpec, map_courses
from tests.rankings import assert_same_ranking
from tests.support.map import _catalogue, _lines, _map_args


@pytest.mark.integration  # a subprocess
def test_cli_reads_standard_input_and_other_columns(tmp_path: Path, esco_db: Path) -> None:
    records = [{"kurs": f"k{i}", "text": f"Backen lernen {i}"} for i in range(3)]
    stdin = "".join(json.dumps(r) + "\n" for r in records)
    out = tmp_path / "skills.csv"

    done = subprocess.run(
        [sys.executable, "-m", "langchain_course_skills", *_map_args(esco_db, "-", "-o", out)]
        + ["--id-column", "kurs", "--text-column", "text"],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("mapped 3, skipped 0, failed 0")
    with out.open(encoding="utf-8", newline="") as handle:
        assert {row["id"] for row in csv.DictReader(handle)} == {"k0", "k1", "k2"}


@pytest.mark.slow
@pytest.mark.integration  # a subprocess
def test_a_run_killed_mid_way_is_completed_by_the_next_without_duplicates(
    tmp_path: Path, esco_db: Path, tiny_cross_encoder: Path
) -> None:
    catalogue, out = _catalogue(tmp_path, 40), tmp_path / "skills.jsonl"
    command = [sys.executable, "-m", "langchain_course_skills", "-v"]
    command += _map_args(esco_db, catalogue, "-o", out, "--courses-per-batch", 2)
    command += ["--rerank", "--reranker", str(tiny_cross_encoder)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    assert process.stderr is not None
    # Kill it once it says a third batch is written: no sleeps, the log line is the signal.
    for line in process.stderr:
        if "batch 3 written" in line:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=120)
    killed = _lines_or_partial(out)

    rerun = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=600, check=False
    )

    ids = [line["id"] for line in _lines(out)]
    assert process.returncode == -signal.SIGKILL
    assert 6 <= killed < 40
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(ids) == sorted(f"c{i}" for i in range(40))  # each course exactly once
    assert f"skipped {killed}" in rerun.stdout


def _lines_or_partial(path: Path) -> int:
    """Complete lines in the file (a partial last line does not count)."""
    return path.read_bytes().count(b"\n")


@pytest.mark.slow
def test_ray_run_writes_what_the_local_run_writes(
    tmp_path: Path,
    chroma_server: str,
    chroma_http_client: chromadb.api.ClientAPI,
    esco_slice: Path,
    tiny_embeddings: E5Embeddings,
    tiny_bi_encoder: Path,
    tiny_cross_encoder: Path,
) -> None:
    ray = pytest.importorskip("ray")
    build_skill_store(
        load_esco_skills(esco_slice),
        tiny_embeddings,
        client=chroma_http_client,
        collection_name="ray-skills",
        show_progress=False,
    )
    server_spec = RetrieverSpec(
        model=str(tiny_bi_encoder),
        reranker=str(tiny_cross_encoder),
        chroma_url=chroma_server,
        collection="ray-skills",
        k=10,
        top_n=4,
        precision="fp32",
    )
    catalogue = _catalogue(tmp_path, 12)
    local_out, ray_out = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    map_courses(catalogue, local_out, server_spec, batch_size=4, show_progress=False)
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        report = map_courses(
            catalogue,
            ray_out,
            server_spec,
            batch_size=4,
            engine="ray",
            ray=RayOptions(actors=1, num_cpus=0.5),
            show_progress=False,
        )
    finally:
        ray.shutdown()

    local, remote = _lines(local_out), _lines(ray_out)
    assert report.mapped == 12
    assert [line["id"] for line in remote] == [line["id"] for line in local]
    for mine, theirs in zip(local, remote):
        assert theirs["text_hash"] == mine["text_hash"]
        assert_same_ranking(
            [(s["uri"], s["relevance_score"]) for s in theirs["skills"]],
            [(s["uri"], s["relevance_score"]) for s in mine["skills"]],
            tolerance=2e-4,  # the records' scores have 4 decimals
        )
    exact = sum(mine == theirs for mine, theirs in zip(local, remote))
    print(f"Ray and local records identical for {exact} of {len(local)} courses")


def _kill_a_worker_node_once_records_appear(
    cluster: object, node: object, output: Path, killed: dict[str, int]
) -> None:
    """Remove `node` from `cluster` as soon as `output` holds a first record."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if output.is_file() and _lines_or_partial(output) >= 1:
            killed["lines"] = _lines_or_partial(output)
            cluster.remove_node(node)  # type: ignore[attr-defined]  # SIGKILLs its processes
            return
        time.sleep(0.02)


@pytest.mark.slow
def test_ray_across_nodes_survives_a_worker_node_killed_mid_map(
    tmp_path: Path,
    chroma_server: str,
    chroma_http_client: chromadb.api.ClientAPI,
    esco_slice: Path,
    tiny_embeddings: E5Embeddings,
    tiny_bi_encoder: Path,
    tiny_cross_encoder: Path,
) -> None:
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    build_skill_store(
        load_esco_skills(esco_slice),
        tiny_embeddings,
        client=chroma_http_client,
        collection_name="ray-nodes",
        show_progress=False,
    )
    spec = RetrieverSpec(
        model=str(tiny_bi_encoder),
        reranker=str(tiny_cross_encoder),
        chroma_url=chroma_server,
        collection="ray-nodes",
        k=10,
        top_n=4,
        precision="fp32",
    )
    courses = 40
    catalogue = _catalogue(tmp_path, courses)
    local_out, ray_out = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    map_courses(catalogue, local_out, spec, batch_size=2, show_progress=False)
    # A head without CPUs (no actor) and two worker nodes of one CPU: one actor (1 CPU) each.
    # One node is killed; its batches go to the other actor.
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    doomed = cluster.add_node(num_cpus=1)
    cluster.add_node(num_cpus=1)
    killed: dict[str, int] = {}
    try:
        ray.init(address=cluster.address, include_dashboard=False)
        cluster.wait_for_nodes()
        killer = threading.Thread(
            target=_kill_a_worker_node_once_records_appear,
            args=(cluster, doomed, ray_out, killed),
            daemon=True,
        )
        killer.start()
        report = map_courses(
            catalogue,
            ray_out,
            spec,
            batch_size=2,
            engine="ray",
            ray=RayOptions(actors=2, num_cpus=1),
            show_progress=False,
        )
        killer.join(timeout=10)
    finally:
        ray.shutdown()
        cluster.shutdown()

    assert 1 <= killed.get("lines", courses) < courses  # the node died while courses were left
    local, remote = _lines(local_out), _lines(ray_out)
    assert report.mapped == courses
    assert [line["id"] for line in remote] == [line["id"] for line in local]  # each course once
    for mine, theirs in zip(local, remote):
        assert theirs["text_hash"] == mine["text_hash"]
        assert_same_ranking(
            [(s["uri"], s["relevance_score"]) for s in theirs["skills"]],
            [(s["uri"], s["relevance_score"]) for s in mine["skills"]],
            tolerance=2e-4,  # the records' scores have 4 decimals
        )
