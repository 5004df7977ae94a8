"""`course-skills serve`: what it refuses before starting, and several workers on a Chroma server.

The last test starts a real `course-skills serve --workers 2` process against the session's real
`chroma run` server.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from langchain_course_skills.cli import main
from langchain_course_skills.cli.serve import allowed_hosts, check_bind, worker_count
from langchain_course_skills.errors import CourseSkillsError


def test_a_non_loopback_address_without_a_token_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COURSE_SKILLS_TOKEN", raising=False)

    status = main(["serve", "--host", "0.0.0.0", "--db", "anything"])

    error = capsys.readouterr().err
    assert status == 1
    assert error.startswith("error: refusing to serve on 0.0.0.0 without a token")
    assert len(error.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("host", "token", "insecure"),
    [("127.0.0.1", None, False), ("::1", None, False), ("localhost", None, False)]
    + [("0.0.0.0", "t", False), ("192.0.2.7", None, True)],
)
def test_loopback_a_token_or_insecure_may_bind(
    host: str, token: str | None, insecure: bool
) -> None:
    check_bind(host, token, insecure)  # does not raise


def test_a_host_name_counts_as_non_loopback() -> None:
    with pytest.raises(CourseSkillsError, match="refusing to serve on example.org"):
        check_bind("example.org", None, False)


def test_only_a_token_less_loopback_service_checks_the_host_header() -> None:
    assert allowed_hosts("127.0.0.1", None) == ["127.0.0.1", "::1", "localhost"]
    assert allowed_hosts("127.0.0.1", "t") is None
    assert allowed_hosts("0.0.0.0", None) is None


def test_the_embedded_store_runs_one_worker_and_says_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    embedded = argparse.Namespace(workers=4, chroma_url=None)
    server = argparse.Namespace(workers=4, chroma_url="http://127.0.0.1:1")

    assert worker_count(embedded) == 1
    assert "running 1 worker, not 4: the embedded store" in capsys.readouterr().err
    assert worker_count(server) == 4


def test_a_missing_store_fails_before_anything_starts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status = main(["serve", "--db", str(tmp_path / "nowhere")])

    assert status == 1
    assert capsys.readouterr().err.startswith("error: no skill store at ")
