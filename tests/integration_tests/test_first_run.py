"""What a new user meets first: no Hub, the demo's stand-in, bad model names, wrong rerankers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from langchain_course_skills import ModelLoadError, SkillCrossEncoder
from langchain_course_skills.cli import main
from langchain_course_skills.embeddings import E5Embeddings
from langchain_course_skills.testing import build_random_cross_encoder

pytestmark = pytest.mark.integration  # subprocesses without the Hub


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


def _without_hub(tmp_path: Path) -> dict[str, str]:
    """An environment whose Hub refuses connections and whose Hugging Face cache is empty."""
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(
        HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}",
        HF_HOME=str(tmp_path / "hf-home"),
        XDG_DATA_HOME=str(tmp_path / "data-home"),
    )
    return env


def _cli(env: dict[str, str], *argv: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "langchain_course_skills", *map(str, argv)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def minilm_db(
    tmp_path_factory: pytest.TempPathFactory, esco_slice: Path, minilm_path: Path
) -> Path:
    db = tmp_path_factory.mktemp("first-run") / "db"
    assert main(["index", str(esco_slice), "--db", str(db), "--model", str(minilm_path)]) == 0
    return db


def test_unreachable_hub_fails_with_one_line_naming_every_way_out(tmp_path: Path) -> None:
    result = _cli(_without_hub(tmp_path), "-v", "search", "WordPress", "--db", tmp_path / "none")

    assert result.returncode == 1
    assert "no skill store" in result.stderr  # the store is checked before any model


def test_unreachable_hub_is_reported_before_any_model_is_loaded(
    tmp_path: Path, minilm_db: Path
) -> None:
    env = _without_hub(tmp_path)
    result = _cli(env, "-v", "search", "Musik", "--db", minilm_db, "--rerank")

    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "isy-thl/bge-reranker-base-course-skill-tuned" in errors[0]
    assert "cannot be reached" in errors[0]
    assert "HF_HUB_OFFLINE=1" in errors[0]
    assert "--reranker DIR" in errors[0]
    assert "leave out --rerank" in errors[0]
    assert "Retrying" not in result.stderr
    assert "loaded embedding model" not in result.stderr  # both checked before either loads


def test_default_model_without_hub_names_the_model_option(tmp_path: Path, esco_slice: Path) -> None:
    result = _cli(_without_hub(tmp_path), "index", esco_slice, "--db", tmp_path / "db")

    assert result.returncode == 1
    assert "isy-thl/multilingual-e5-base-course-skill-tuned" in result.stderr
    assert "--model DIR" in result.stderr
    assert "model_name=" not in result.stderr  # the Python form is for the library
    assert ".." not in result.stderr


def test_demo_without_hub_runs_on_the_stand_in_and_says_so(tmp_path: Path) -> None:
    env = _without_hub(tmp_path)
    result = _cli(env, "demo", "--top-n", 3)

    assert result.returncode == 0, result.stderr
    assert "ILLUSTRATIVE ONLY" in result.stdout
    assert "all-MiniLM-L6-v2" in result.stdout
    assert "relevance" in result.stdout and "  1  " in result.stdout
    demo_db = tmp_path / "data-home" / "course-skills" / "demo-db"
    assert str(demo_db) in result.stdout  # it says where the store went
    assert (demo_db / "chroma.sqlite3").is_file()


def test_demo_never_replaces_a_model_the_user_named(tmp_path: Path) -> None:
    result = _cli(_without_hub(tmp_path), "demo", "--model", tmp_path / "no-such-folder")

    assert result.returncode == 1
    assert "no embedding model folder" in result.stderr
    assert "ILLUSTRATIVE" not in result.stdout


def test_empty_model_name_is_named_as_such(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status = main(["demo", "--model", "", "--db", str(tmp_path / "db")])

    assert status == 1
    assert "the embedding model name is empty" in capsys.readouterr().err


def test_empty_model_name_in_the_library_raises_model_load_error() -> None:
    with pytest.raises(ModelLoadError, match="name is empty"):
        E5Embeddings(model_name=" ")


def test_bi_encoder_folder_is_refused_as_reranker(minilm_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no trained classification head"):
        SkillCrossEncoder(model_name=str(minilm_path))


def test_two_label_cross_encoder_scores_the_relevant_label(
    tmp_path: Path, minilm_path: Path
) -> None:
    folder = build_random_cross_encoder(tmp_path / "two-labels", minilm_path, num_labels=2)
    encoder = SkillCrossEncoder(model_name=str(folder))
    pairs = [("WordPress Kurs", "WordPress"), ("WordPress Kurs", "Buchhaltung")]

    logits = encoder.client.predict(
        pairs, activation_fn=torch.nn.Identity(), convert_to_tensor=True
    )
    expected = torch.softmax(logits.float(), dim=-1)[:, 1].tolist()

    assert encoder.score(pairs) == pytest.approx(expected)


def test_model_with_a_lower_own_limit_keeps_it(minilm_embeddings: E5Embeddings) -> None:
    # all-MiniLM-L6-v2 was trained on 256 tokens; the e5 default of 512 must not raise it
    assert minilm_embeddings.max_tokens == 256


def test_search_top_n_limits_the_rows_without_rerank(
    capsys: pytest.CaptureFixture[str], minilm_db: Path
) -> None:
    status = main(["search", "music", "--db", str(minilm_db), "-n", "3", "--json"])

    assert status == 0
    assert capsys.readouterr().out.count('"rank"') == 3


def test_every_command_defaults_to_the_libraries_runtime() -> None:
    from langchain_course_skills.cli import build_parser
    from langchain_course_skills.spec import RetrieverSpec

    parser = build_parser()
    commands = [
        ["index", "f.csv"],
        ["search", "text"],
        ["map", "c.csv", "-o", "out.jsonl"],
        ["serve"],
        ["demo"],
        ["evaluate", "g.jsonl"],
    ]
    parsed = [parser.parse_args(argv) for argv in commands]
    defaults = {(args.precision, args.backend) for args in parsed}
    library = {
        (cls.model_fields["precision"].default, cls.model_fields["backend"].default)
        for cls in (E5Embeddings, SkillCrossEncoder, RetrieverSpec)
    }
    assert defaults == library == {("auto", "auto")}
