"""Helpers of the reliability suites: the CLI as a real process, a Chroma server of one's own
(to kill, stop and restart), taxonomy versions, and snapshots of what a store holds."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chromadb
import numpy as np

from langchain_course_skills.store import HASH_KEY, SYNC_DIGEST_KEY
from langchain_course_skills.store._storage import open_embedded_client

COLLECTION = "skills"
CLI_TIMEOUT = 300  # seconds; a run that takes longer has hung, which is itself a failure
SERVER_START = 60  # seconds for `chroma run` to answer


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI process: offline, this checkout's package, plus `extra`."""
    package = str(Path(__file__).resolve().parents[1] / "integration")
    path = os.pathsep.join(p for p in (package, os.environ.get("PYTHONPATH", "")) if p)
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONPATH": path,
        **extra,
    }


def cli_command(*argv: object) -> list[str]:
    return [sys.executable, "-m", "langchain_course_skills", *(str(a) for a in argv)]


def run_cli(
    *argv: object, env: dict[str, str] | None = None, timeout: float = CLI_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run `course-skills ARGV` as a process; return its status and output."""
    return subprocess.run(
        cli_command(*argv),
        capture_output=True,
        text=True,
        env=env or cli_env(),
        timeout=timeout,
        check=False,
    )


def start_cli(*argv: object, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start `course-skills ARGV` as a process without waiting for it."""
    return subprocess.Popen(
        cli_command(*argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or cli_env(),
    )


def error_lines(stderr: str) -> list[str]:
    """The lines of stderr that are not progress bars or warnings: what the user reads as errors."""
    lines = [line for line in stderr.replace("\r", "\n").splitlines() if line.strip()]
    return [line for line in lines if line.startswith("error:") or "Traceback" in line]


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Assert exit status 1 and exactly one error line, without a traceback, containing needles."""
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = error_lines(result.stderr)
    assert result.returncode == 1, (result.returncode, result.stderr[-3000:])
    assert len(errors) == 1, result.stderr[-3000:]
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ChromaServer:
    """A real `chroma run` on 127.0.0.1 that a test may kill, stop (SIGSTOP) and restart."""

    def __init__(self, path: Path, port: int | None = None) -> None:
        self.path = path
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = path / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ChromaServer:
        chroma = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
        self.path.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [chroma, "run", "--path", str(self.path / "data"), "--host", "127.0.0.1"]
                + ["--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + SERVER_START
        while True:
            try:
                chromadb.HttpClient(host="127.0.0.1", port=self.port).heartbeat()
                return self
            except Exception:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    msg = f"chroma run did not start; see {self.log}"
                    raise RuntimeError(msg) from None
                time.sleep(0.2)

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL the server and wait for it to end."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a stopped process dies on SIGKILL too
            self.process.kill()
            self.process.wait(timeout=30)

    def restart(self) -> None:
        self.kill()
        self.start()

    def client(self) -> chromadb.api.ClientAPI:
        return chromadb.HttpClient(host="127.0.0.1", port=self.port)


def write_taxonomy(rows: list[dict[str, str]], fieldnames: list[str], path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_rows(path: Path) -> tuple[list[dict[str, str]], list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader), list(reader.fieldnames or [])


def edited_version(
    source: Path, extra: Path, path: Path, *, changed: int, removed: int, added: int
) -> Path:
    """A later version of an ESCO slice: `changed` labels edited, `removed` rows gone, `added`
    rows taken from `extra`."""
    rows, fields = read_rows(source)
    more, _ = read_rows(extra)
    known = {row["conceptUri"] for row in rows}
    new = [row for row in more if row["conceptUri"] not in known][:added]
    rows = rows[removed:]
    for row in rows[:changed]:
        row["preferredLabel"] = row["preferredLabel"] + " (revised)"
    return write_taxonomy(rows + new, fields, path)


@dataclass
class Snapshot:
    """What one collection holds."""

    ids: list[str]
    documents: dict[str, str]
    hashes: dict[str, str]
    embeddings: dict[str, np.ndarray]
    count: int
    metadata: dict[str, Any]
    top10: list[list[str]]

    def max_embedding_difference(self, other: Snapshot) -> float:
        return max(float(np.abs(self.embeddings[i] - other.embeddings[i]).max()) for i in self.ids)


def read_collection(collection: Any, queries: np.ndarray | None) -> Snapshot:
    count = collection.count()
    result = collection.get(include=["documents", "metadatas", "embeddings"], limit=count + 10)
    ids = list(result["ids"])
    top10: list[list[str]] = []
    if queries is not None and count:
        found = collection.query(query_embeddings=queries, n_results=min(10, count))
        top10 = [list(row) for row in found["ids"]]
    return Snapshot(
        ids=sorted(ids),
        documents=dict(zip(ids, result["documents"])),
        hashes={i: str(m.get(HASH_KEY)) for i, m in zip(ids, result["metadatas"])},
        embeddings={i: np.asarray(e, dtype=np.float64) for i, e in zip(ids, result["embeddings"])},
        count=count,
        metadata=dict(collection.metadata or {}),
        top10=top10,
    )


def snapshot(
    db: Path, queries: np.ndarray | None = None, *, scratch: Path, name: str = COLLECTION
) -> Snapshot:
    """Read an embedded store from a fresh copy (chromadb caches what a process opened)."""
    copy = scratch / f"snapshot-{uuid.uuid4().hex[:8]}"
    shutil.copytree(db, copy)
    client = open_embedded_client(copy, write=False)
    return read_collection(client.get_collection(name), queries)


def server_snapshot(
    server: ChromaServer, queries: np.ndarray | None = None, name: str = COLLECTION
) -> Snapshot:
    return read_collection(server.client().get_collection(name), queries)


def assert_same_store(state: Snapshot, reference: Snapshot, *, tolerance: float = 1e-5) -> None:
    """Exactly the reference's skills, no duplicates, equal embeddings and the same top 10."""
    assert state.count == len(state.ids) == len(set(state.ids)) == reference.count
    assert state.ids == reference.ids
    assert state.documents == reference.documents
    assert state.hashes == reference.hashes
    assert state.max_embedding_difference(reference) <= tolerance
    assert state.top10 == reference.top10


def vouches_only_for_what_it_holds(state: Snapshot, version: Snapshot) -> bool:
    """Whether the store's record of its last completed sync is either absent or `version`'s,
    and in the latter case the store holds `version` completely."""
    digest = state.metadata.get(SYNC_DIGEST_KEY) or ""
    if not digest:
        return True
    return digest == version.metadata.get(SYNC_DIGEST_KEY) and state.hashes == version.hashes


def tree_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder`, to show a failed command left it untouched."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
