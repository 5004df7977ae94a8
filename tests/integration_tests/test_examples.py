"""The examples run offline, end to end, with local models."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # the examples as subprocesses, with MiniLM

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def esco_db(
    tmp_path_factory: pytest.TempPathFactory,
    esco_slice: Path,
    minilm_path: Path,
    tiny_cross_encoder: Path,
) -> Path:
    db = tmp_path_factory.mktemp("examples") / "db"
    out = _run(
        "esco_search.py",
        "--esco",
        str(esco_slice),
        "--db",
        str(db),
        "--model",
        str(minilm_path),
        "--reranker",
        str(tiny_cross_encoder),
        "--course",
        "Music staff management",
    )
    assert out.count("relevance=") == 10
    return db


def test_esco_search_example_builds_and_reranks(esco_db: Path) -> None:
    assert esco_db.is_dir()


def test_lcel_chain_example_feeds_skills_into_the_prompt(esco_db: Path) -> None:
    out = _run("lcel_chain.py", "--db", str(esco_db))  # the store's own model

    assert "Candidate skills" in out
    assert out.count("\n- ") >= 10
    assert "the chat model's answer" in out


def test_agent_example_calls_the_tool(esco_db: Path) -> None:
    out = _run("agent_tool.py", "--db", str(esco_db))  # the store's own model

    assert "tool course_skill_search returned:\n1. " in out
    assert "agent: The course teaches" in out


def test_esco_search_example_runs_without_the_reranker(
    tmp_path: Path, esco_slice: Path, minilm_path: Path
) -> None:
    db = tmp_path / "db"
    args = ["--esco", str(esco_slice), "--db", str(db), "--model", str(minilm_path)]
    out = _run("esco_search.py", *args, "--no-rerank", "--course", "Music staff management")

    assert out.count("similarity=") == 10
    assert "relevance=" not in out


def test_examples_keep_their_store_in_the_per_user_data_folder(
    tmp_path: Path, esco_slice: Path, minilm_path: Path
) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}
    args = ["--esco", str(esco_slice), "--model", str(minilm_path), "--no-rerank", "--limit", "20"]
    out = _run("esco_search.py", *args, env=env)

    store = tmp_path / "data" / "course-skills" / "esco-skills-db"
    assert f"store: {store}" in out
    assert "Candidate skills" in _run("lcel_chain.py", env=env)  # found the store by itself
