"""Server-fault suite against a real `chroma run` on 127.0.0.1, one server per test: killed,
stopped (SIGSTOP, a hung server) and restarted, before a command and in the middle of a build.

Each fault gives one line that names the server and what to do, within the request time limit
(`--chroma-timeout`), never a hang or a traceback; once the server is back, running the same
command again gives exactly what an uninterrupted build gives.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from langchain_course_skills.errors import StoreUnavailableError
from langchain_course_skills.store import SYNC_DIGEST_KEY
from langchain_course_skills.store._chroma_http import connect_chroma_server
from tests.reliability import (
    ChromaServer,
    Snapshot,
    assert_one_line_error,
    cli_env,
    run_cli,
    server_snapshot,
    snapshot,
    start_cli,
)

pytestmark = [pytest.mark.faults, pytest.mark.integration]  # subprocesses, servers

TIMEOUT = "3"  # --chroma-timeout in these tests: seconds before a request gives up
BOUND = 90  # seconds a command may take when the server is gone; longer counts as a hang
PAGE = "25"  # skills per request, so that a build has pages before and after the fault


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[ChromaServer]:
    process = ChromaServer(tmp_path / "server").start()
    yield process
    process.kill()


@pytest.fixture(scope="module")
def reference(
    tmp_path_factory: pytest.TempPathFactory, esco_slice: Path, tiny_bi_encoder: Path
) -> Snapshot:
    """The slice built without faults (embedded; a server store holds the same)."""
    folder = tmp_path_factory.mktemp("server-reference")
    db = folder / "db"
    assert run_cli("index", esco_slice, "--db", db, "--model", tiny_bi_encoder).returncode == 0
    return snapshot(db, scratch=folder)


def _store(server: ChromaServer) -> tuple[str, ...]:
    return ("--chroma-url", server.url, "--chroma-timeout", TIMEOUT)


def _assert_resumed(server: ChromaServer, reference: Snapshot) -> None:
    state = server_snapshot(server)
    assert state.ids == reference.ids and state.count == reference.count
    assert state.hashes == reference.hashes and state.documents == reference.documents
    assert state.max_embedding_difference(reference) <= 1e-5
    assert state.metadata[SYNC_DIGEST_KEY] == reference.metadata[SYNC_DIGEST_KEY]


def test_requests_of_a_server_client_have_a_time_limit(server: ChromaServer) -> None:
    # Pins the one place that reaches into chromadb (its httpx session has no timeout).
    client = connect_chroma_server(server.url, timeout=7)
    session = client._server._session  # type: ignore[attr-defined]
    assert isinstance(session, httpx.Client) and session.timeout.read == 7


def test_hung_server_fails_connect_in_one_bounded_step(server: ChromaServer) -> None:
    server.signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="within 1 s"):
            connect_chroma_server(server.url, timeout=1)
        assert time.monotonic() - started < BOUND
    finally:
        server.signal(signal.SIGCONT)


@pytest.mark.parametrize("fault", ["killed", "stopped"])
def test_info_and_search_on_a_lost_server_answer_in_one_line(
    server: ChromaServer, esco_slice: Path, tiny_bi_encoder: Path, fault: str
) -> None:
    assert run_cli("index", esco_slice, *_store(server), "--model", tiny_bi_encoder).returncode == 0
    if fault == "killed":
        server.kill()
    else:
        server.signal(signal.SIGSTOP)
    try:
        for argv in (["info"], ["search", "Tabellenkalkulation"]):
            result = run_cli(*argv, *_store(server), timeout=BOUND)
            assert_one_line_error(result, server.url.removeprefix("http://"), "chroma run")
    finally:
        if fault == "stopped":
            server.signal(signal.SIGCONT)


def _paused_build(tmp_path: Path, server: ChromaServer, source: Path, model: Path):
    """Start `index` into the server, paused after its second page is written."""
    flag, trace = tmp_path / "go", tmp_path / "trace"
    env = cli_env(
        COURSE_SKILLS_PAGE=PAGE,
        COURSE_SKILLS_FAULT=f"wait@upserted:2@{flag}",
        COURSE_SKILLS_FAULT_TRACE=str(trace),
    )
    process = start_cli("index", source, *_store(server), "--model", model, env=env)
    deadline = time.monotonic() + BOUND
    while not (trace.exists() and "upserted:2" in trace.read_text()):
        assert process.poll() is None, process.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "the build did not reach its pause point"
        time.sleep(0.05)
    return process, flag


@pytest.mark.parametrize("fault", ["killed", "stopped", "restarted"])
def test_server_fault_mid_build_gives_one_line_then_the_same_command_resumes_exactly(
    tmp_path: Path,
    server: ChromaServer,
    esco_slice: Path,
    tiny_bi_encoder: Path,
    reference: Snapshot,
    fault: str,
) -> None:
    process, go = _paused_build(tmp_path, server, esco_slice, tiny_bi_encoder)
    if fault == "killed":
        server.kill()
    elif fault == "stopped":
        server.signal(signal.SIGSTOP)
    else:
        server.restart()
    go.touch()
    started = time.monotonic()
    out, err = process.communicate(timeout=BOUND)
    seconds = time.monotonic() - started
    result = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    if fault == "restarted" and process.returncode == 0:
        outcome = "continued"  # the client reconnected to the restarted server
    else:
        line = assert_one_line_error(result, server.url.removeprefix("http://"))
        assert "run the same command again" in line
        outcome = "one-line error"
    print(f"server {fault} mid-build: {outcome} after {seconds:.1f} s")

    if fault == "killed":
        server.start()  # the same port and data folder
    elif fault == "stopped":
        server.signal(signal.SIGCONT)
    resumed = run_cli("index", esco_slice, *_store(server), "--model", tiny_bi_encoder)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    _assert_resumed(server, reference)
