"""Curators' verdicts: the SQLite store (durable, several processes), the gold export, the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from langchain_course_skills.feedback import (
    FeedbackStore,
)
from tests.support.feedback import COURSE, URIS


@pytest.mark.integration  # a subprocess
def test_a_verdict_survives_a_kill_right_after_it_was_recorded(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"
    script = (
        "import os, signal, sys\n"
        "from langchain_course_skills.feedback import FeedbackStore\n"
        "store = FeedbackStore(sys.argv[1])\n"
        f"store.record(text={COURSE!r}, uri={URIS[0]!r}, label='a', taxonomy='ESCO',"
        " verdict='accepted')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )

    done = subprocess.run([sys.executable, "-c", script, str(path)], timeout=60, check=False)

    assert done.returncode == -9
    assert FeedbackStore(path).verdicts(COURSE) == {URIS[0]: "accepted"}
