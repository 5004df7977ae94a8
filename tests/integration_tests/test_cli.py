"""The `course-skills` command line: index, info, search, demo, and its error messages."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.support.cli import SLICE_SIZE, _passages


def _subprocess(*argv: object, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [str(arg) for arg in argv],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_server_flow_index_info_search_reindex(
    capsys: pytest.CaptureFixture[str],
    chroma_server: str,
    esco_slice: Path,
    tiny_bi_encoder: Path,
    tiny_cross_encoder: Path,
) -> None:
    server = ["--chroma-url", chroma_server, "--collection", "cli-test"]
    status, summary, _ = run_cli(capsys, "index", esco_slice, *server, "--model", tiny_bi_encoder)
    passages = _passages(esco_slice)
    assert status == 0
    assert f"{passages} added" in summary
    _, info, _ = run_cli(capsys, "info", *server)
    assert f"collection 'cli-test': {SLICE_SIZE} skills" in info
    argv = ["search", "manage musical staff", *server, "--json", "--rerank"]
    status, found, _ = run_cli(capsys, *argv, "--reranker", tiny_cross_encoder, "--top-n", 5)
    assert status == 0
    assert len(json.loads(found)) == 5
    _, again, _ = run_cli(capsys, "index", esco_slice, *server)
    assert f"0 added, 0 updated, {passages} unchanged" in again


def test_each_command_opens_one_server_client(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    chroma_server: str,
    esco_slice: Path,
    tiny_bi_encoder: Path,
) -> None:
    import chromadb

    made: list[object] = []
    real = chromadb.HttpClient

    def counted(*args: object, **kwargs: object) -> object:  # the real client, counted
        client = real(*args, **kwargs)
        made.append(client)
        return client

    monkeypatch.setattr(chromadb, "HttpClient", counted)
    server = ["--chroma-url", chroma_server, "--collection", "one-client"]
    run_cli(capsys, "index", esco_slice, *server, "--model", tiny_bi_encoder)
    indexed = len(made)
    status, _, _ = run_cli(capsys, "search", "manage musical staff", *server, "--json")

    assert status == 0
    assert indexed == 1  # checking the store and writing it share the client
    assert len(made) == 2  # and so do checking and searching it


def test_demo_with_minilm_finds_wordpress_without_reranker(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, minilm_path: Path
) -> None:
    argv = ["demo", "--db", tmp_path / "demo", "--model", minilm_path, "--precision", "fp32"]
    status, out, _ = run_cli(capsys, *argv, "--no-rerank")
    ranked = out.split("\nrank", 1)[1].splitlines()[1:]
    assert status == 0
    assert len(ranked) == 10
    assert any(line.endswith("urn:course-skills:sample:wordpress") for line in ranked)
    assert all(line.split()[-2] == "-" for line in ranked)  # no relevance without reranker


@pytest.mark.integration  # a subprocess
def test_module_reads_the_course_from_stdin_and_prints_json(built_db: tuple[Path, str]) -> None:
    db, _ = built_db
    argv = [sys.executable, "-m", "langchain_course_skills", "search", "--db", db, "--json"]
    result = _subprocess(*argv, "-k", 3, stdin="manage musical staff\n")
    assert result.returncode == 0, result.stderr
    assert [r["rank"] for r in json.loads(result.stdout)] == [1, 2, 3]


def _entry_point() -> str:
    # The script sits beside the interpreter of the environment the package is installed in.
    beside = Path(sys.executable).parent / "course-skills"
    command = str(beside) if beside.is_file() else shutil.which("course-skills")
    assert command is not None, "install the package (pip install -e .) for the entry point"
    return command


@pytest.mark.integration  # a subprocess
def test_entry_point_error_has_no_traceback(tmp_path: Path) -> None:
    command = _entry_point()
    result = _subprocess(command, "search", "kurs", "--db", tmp_path / "nothing")
    assert result.returncode == 1
    assert result.stderr.startswith("error: no skill store at")
    assert "Traceback" not in result.stderr
