"""`course-skills serve`: what it refuses before starting, and several workers on a Chroma server.

The last test starts a real `course-skills serve --workers 2` process against the session's real
`chroma run` server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import chromadb
import httpx
import psutil
import pytest

from langchain_course_skills import build_skill_store, load_esco_skills
from langchain_course_skills.embeddings import E5Embeddings
from langchain_course_skills.models.backends import resolve_runtime
from tests.conftest import free_port

TOKEN = "another-test-token-9876543210"


READY_TIMEOUT_S = 240  # two workers load their models at once on a busy 2-core machine


@pytest.mark.integration  # a subprocess
def test_several_workers_serve_one_chroma_server_with_a_token(
    chroma_server: str,
    chroma_http_client: chromadb.api.ClientAPI,
    esco_slice: Path,
    tiny_embeddings: E5Embeddings,
    tmp_path: Path,
) -> None:
    build_skill_store(
        load_esco_skills(esco_slice),
        tiny_embeddings,
        client=chroma_http_client,
        collection_name="served",
        show_progress=False,
    )
    port = free_port()
    log_path = tmp_path / "serve.log"
    command = [sys.executable, "-m", "langchain_course_skills", "serve"]
    command += ["--chroma-url", chroma_server, "--collection", "served", "--no-rerank"]
    command += ["--workers", "2", "--port", str(port)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COURSE_SKILLS_TOKEN": TOKEN}
    url, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {TOKEN}"}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path
        )
        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            ready = 0
            while ready < 4:  # new connections, spread over the workers as they get ready
                try:
                    ok = httpx.get(f"{url}/readyz", headers=auth, timeout=5).status_code == 200
                    ready = ready + 1 if ok else 0
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"serve did not get ready; see {log_path}")
                time.sleep(0.2 if ready else 0.5)
            workers = [  # uvicorn's worker processes (not multiprocessing's resource tracker)
                child
                for child in psutil.Process(process.pid).children()
                if "spawn_main" in " ".join(child.cmdline())
            ]
            refused = httpx.get(f"{url}/v1/info", headers={"Authorization": "Bearer nope"})
            found = [
                httpx.post(
                    f"{url}/v1/skills/search",
                    json={"text": "manage musical staff", "top_n": 3},
                    headers=auth,
                    timeout=60,
                )
                for _ in range(4)
            ]
            verdicts = [
                httpx.post(
                    f"{url}/v1/feedback",
                    json={"text": f"course {n}", "uri": found[0].json()["skills"][0]["uri"]}
                    | {"verdict": "accepted"},
                    headers=auth,
                    timeout=60,
                )
                for n in range(6)
            ]
            info = httpx.get(f"{url}/v1/info", headers=auth, timeout=60).json()
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)

    logged = log_path.read_text(encoding="utf-8")
    assert len(workers) == 2
    assert refused.status_code == 401
    assert all(r.status_code == 200 for r in found)
    assert all(r.json()["skills"] == found[0].json()["skills"] for r in found)
    assert [r.status_code for r in verdicts] == [201] * 6
    assert info["feedback"] == {"accepted": 6, "rejected": 0}  # one file for both workers
    assert info["store"]["collection"] == "served"
    expected = str(resolve_runtime("auto", "auto", "cpu"))  # what the defaults resolve to here
    assert info["models"]["runtime"] == {"embedding": expected}  # --no-rerank
    assert (tmp_path / "course-skills-feedback.sqlite3").is_file()
    assert "with 2 worker(s)" in logged
    assert TOKEN not in logged
