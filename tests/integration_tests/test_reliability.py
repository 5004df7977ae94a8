"""The defects of issue 14, one test (or a few) each; the suites that keep them fixed are the
tests/test_faults_*.py, test_bad_input.py and test_concurrency.py files."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
from pathlib import Path

import pytest

from langchain_course_skills.cli import main
from tests.reliability import cli_command, cli_env


@pytest.mark.integration  # a subprocess
def test_closed_stdout_pipe_ends_quietly(
    tmp_path: Path, esco_slice: Path, tiny_bi_encoder: Path
) -> None:
    db = tmp_path / "db"
    with contextlib.redirect_stdout(io.StringIO()):
        assert (
            main(["index", str(esco_slice), "--db", str(db), "--model", str(tiny_bi_encoder)]) == 0
        )
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head -2` after its two lines: every write now fails
    result = subprocess.run(
        cli_command("info", "--db", db),
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        timeout=120,
        check=False,
    )
    os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == 141


@pytest.mark.integration  # a subprocess
def test_info_piped_into_head_prints_no_traceback(
    tmp_path: Path, esco_slice: Path, tiny_bi_encoder: Path
) -> None:
    db = tmp_path / "db"
    with contextlib.redirect_stdout(io.StringIO()):
        assert (
            main(["index", str(esco_slice), "--db", str(db), "--model", str(tiny_bi_encoder)]) == 0
        )
    command = " ".join(cli_command("info", "--db", db)) + " | head -2"
    result = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, env=cli_env(), timeout=120
    )
    assert len(result.stdout.splitlines()) == 2
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr
