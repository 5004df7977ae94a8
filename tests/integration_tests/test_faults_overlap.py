"""Overlap suite: two writers of two versions of one taxonomy on one store, as threads and as
processes, on an embedded folder and on a Chroma server.

The end state is one of the two versions, completely, and the store's record of its last
completed sync never vouches for anything else; a later run of either file repairs to it.
Embedded writers take turns (a file lock); on a server, a sync reads back what it wrote and
writes again what the other writer changed. The deterministic cases pause one writer at a
point of the fault seam while the other runs; the others start both at once, several times.
"""

from __future__ import annotations

import logging
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import chromadb
import pytest
from langchain_core.documents import Document

from langchain_course_skills.embeddings import E5Embeddings
from langchain_course_skills.errors import StoreConflictError
from langchain_course_skills.loaders import load_esco_skills
from langchain_course_skills.store import SYNC_DIGEST_KEY, SyncReport, sync_skill_store
from langchain_course_skills.store._faults import set_fault_hook
from tests.conftest import ESCO_EN
from tests.reliability import (
    Snapshot,
    cli_env,
    edited_version,
    read_collection,
    read_rows,
    run_cli,
    snapshot,
    start_cli,
    vouches_only_for_what_it_holds,
    write_taxonomy,
)

pytestmark = [pytest.mark.faults, pytest.mark.integration]  # subprocesses, servers

TRIES = 4  # simultaneous starts per combination (the issue saw 2 stale records in 16)
PAGE = 25  # skills per write, so that the two writers interleave many times
WAIT_LIMIT = 120  # seconds a paused writer may wait for the other; more means a hang


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory, esco_slice: Path) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("overlap-taxonomies")
    rows, fields = read_rows(ESCO_EN)
    extra = write_taxonomy(rows[300:340], fields, folder / "extra.csv")
    x = edited_version(esco_slice, extra, folder / "x.csv", changed=0, removed=0, added=0)
    y = edited_version(esco_slice, extra, folder / "y.csv", changed=40, removed=0, added=20)
    return {"x": x, "y": y}


@pytest.fixture(scope="module")
def documents(versions: dict[str, Path]) -> dict[str, list[Document]]:
    return {name: load_esco_skills(path) for name, path in versions.items()}


@pytest.fixture(scope="module")
def expected(
    tmp_path_factory: pytest.TempPathFactory,
    documents: dict[str, list[Document]],
    tiny_embeddings: E5Embeddings,
) -> dict[str, Snapshot]:
    """What a store holds after one uninterrupted sync of each version."""
    folder = tmp_path_factory.mktemp("overlap-expected")
    states = {}
    for name, docs in documents.items():
        sync_skill_store(
            docs, tiny_embeddings, persist_directory=folder / name, show_progress=False
        )
        states[name] = snapshot(folder / name, scratch=folder)
    return states


def _holds(state: Snapshot, expected: dict[str, Snapshot]) -> str:
    """The version the store holds completely, checking that its record vouches for no other."""
    held = [name for name, version in expected.items() if state.hashes == version.hashes]
    assert len(held) == 1, "the store holds a mix of the two versions"
    assert vouches_only_for_what_it_holds(state, expected[held[0]])
    return held[0]


@pytest.fixture()
def hook() -> Iterator[Callable[[Callable[[str], None]], None]]:
    yield set_fault_hook
    set_fault_hook(None)


class _Seen(logging.Handler):
    """Sets an event when a log record contains `text`."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


def _sync(docs: list[Document], embeddings: E5Embeddings, **where: Any) -> SyncReport:
    return sync_skill_store(
        docs, embeddings, show_progress=False, batch_size=PAGE, prune=True, **where
    )


def _repairs(
    read: Callable[[], Snapshot],
    documents: dict[str, list[Document]],
    expected: dict[str, Snapshot],
    embeddings: E5Embeddings,
    **where: Any,
) -> None:
    """A later run of either version makes the store hold exactly that version."""
    for name in ("x", "y", "x"):
        _sync(documents[name], embeddings, **where)
        state = read()
        assert state.hashes == expected[name].hashes
        assert state.metadata[SYNC_DIGEST_KEY] == expected[name].metadata[SYNC_DIGEST_KEY]


# --- threads, embedded -------------------------------------------------------------------------


def test_embedded_writer_waits_for_the_one_holding_the_store(
    tmp_path: Path, documents, expected, tiny_embeddings: E5Embeddings, hook
) -> None:
    db = tmp_path / "db"
    _sync(documents["x"], tiny_embeddings, persist_directory=db)
    seen = _Seen("waiting for another writer")
    logging.getLogger("langchain_course_skills.store._locks").addHandler(seen)
    second = threading.Thread(
        target=_sync, args=(documents["x"], tiny_embeddings), kwargs={"persist_directory": db}
    )

    def pause_first_writer(point: str) -> None:
        # While "first" holds the store after its first write, "second" must wait for it.
        if threading.current_thread().name == "first" and point == "upserted:1":
            second.start()
            assert seen.event.wait(WAIT_LIMIT), "the second writer did not wait"

    hook(pause_first_writer)
    first = threading.Thread(
        target=_sync,
        args=(documents["y"], tiny_embeddings),
        kwargs={"persist_directory": db},
        name="first",
    )
    first.start()
    first.join(WAIT_LIMIT)
    second.join(WAIT_LIMIT)
    logging.getLogger("langchain_course_skills.store._locks").removeHandler(seen)

    assert _holds(snapshot(db, scratch=tmp_path), expected) == "x"  # the second ran last
    _repairs(
        lambda: snapshot(db, scratch=tmp_path),
        documents,
        expected,
        tiny_embeddings,
        persist_directory=db,
    )


def _race(targets: list[Callable[[], object]]) -> list[BaseException]:
    """Run the targets in threads started together; return what they raised."""
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def run(target: Callable[[], object]) -> None:
        barrier.wait()
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_LIMIT)
    return errors


def test_embedded_threads_started_together_leave_one_version(
    tmp_path: Path, documents, expected, tiny_embeddings: E5Embeddings
) -> None:
    held = []
    for attempt in range(TRIES):
        db = tmp_path / f"db-{attempt}"
        _sync(documents["x"], tiny_embeddings, persist_directory=db)
        errors = _race(
            [
                lambda db=db: _sync(documents["y"], tiny_embeddings, persist_directory=db),
                lambda db=db: _sync(documents["x"], tiny_embeddings, persist_directory=db),
            ]
        )
        assert not errors
        held.append(_holds(snapshot(db, scratch=tmp_path), expected))
    _repairs(
        lambda: snapshot(db, scratch=tmp_path),
        documents,
        expected,
        tiny_embeddings,
        persist_directory=db,
    )
    print(f"embedded threads: {TRIES} races, held {held}")


# --- threads, server -------------------------------------------------------------------------


@pytest.fixture()
def server_collection(chroma_server: str) -> Iterator[tuple[chromadb.api.ClientAPI, str]]:
    host, port = chroma_server.removeprefix("http://").split(":")
    client = chromadb.HttpClient(host=host, port=int(port))
    name = f"overlap-{uuid.uuid4().hex[:8]}"
    yield client, name
    client.delete_collection(name)


def test_server_writer_rewrites_what_another_writer_changed_meanwhile(
    server_collection, documents, expected, tiny_embeddings: E5Embeddings, hook
) -> None:
    client, name = server_collection
    where = {"client": client, "collection_name": name}
    read = lambda: _read_server(client, name)  # noqa: E731
    _sync(documents["x"], tiny_embeddings, **where)
    interfered = []

    def interfere(point: str) -> None:
        # After "first" wrote its first page, another writer syncs the other version fully.
        if threading.current_thread().name == "first" and point == "upserted:1" and not interfered:
            interfered.append(point)
            other = threading.Thread(
                target=_sync, args=(documents["x"], tiny_embeddings), kwargs=where
            )
            other.start()
            other.join(WAIT_LIMIT)

    hook(interfere)
    reports: list[SyncReport] = []
    first = threading.Thread(
        target=lambda: reports.append(_sync(documents["y"], tiny_embeddings, **where)),
        name="first",
    )
    first.start()
    first.join(WAIT_LIMIT)

    assert interfered and reports, "the first writer did not finish"
    assert _holds(read(), expected) == "y"  # it wrote again what the other changed
    _repairs(read, documents, expected, tiny_embeddings, **where)


def _read_server(client: chromadb.api.ClientAPI, name: str) -> Snapshot:
    return read_collection(client.get_collection(name), None)


def test_server_threads_started_together_leave_one_version_or_say_so(
    server_collection, documents, expected, tiny_embeddings: E5Embeddings
) -> None:
    client, name = server_collection
    where = {"client": client, "collection_name": name}
    outcomes = []
    for _ in range(TRIES):
        _sync(documents["x"], tiny_embeddings, **where)
        errors = _race(
            [
                lambda: _sync(documents["y"], tiny_embeddings, **where),
                lambda: _sync(documents["x"], tiny_embeddings, **where),
            ]
        )
        assert all(isinstance(e, StoreConflictError) for e in errors), errors
        state = _read_server(client, name)
        if errors:  # detected: the store records no completed sync, a re-run repairs
            assert not state.metadata.get(SYNC_DIGEST_KEY)
            outcomes.append("conflict")
        else:
            outcomes.append(_holds(state, expected))
    _repairs(lambda: _read_server(client, name), documents, expected, tiny_embeddings, **where)
    print(f"server threads: {TRIES} races, outcomes {outcomes}")


# --- processes -------------------------------------------------------------------------------


def _argv(source: Path, model: Path, *store: object) -> list[object]:
    """`course-skills index` of one version, pruning what the other version added."""
    return ["index", source, *store, "--model", model, "--prune"]


def _paused_writer(
    tmp_path: Path, source: Path, model: Path, *store: object
) -> tuple[Any, Path, Path]:
    """Start `course-skills index` paused after its first page; return it, trace and flag."""
    trace, flag = tmp_path / f"trace-{uuid.uuid4().hex[:6]}", tmp_path / "go"
    env = cli_env(
        COURSE_SKILLS_PAGE=str(PAGE),
        COURSE_SKILLS_FAULT=f"wait@upserted:1@{flag}",
        COURSE_SKILLS_FAULT_TRACE=str(trace),
    )
    process = start_cli(*_argv(source, model, *store), env=env)
    _wait_for(lambda: trace.exists() and "upserted:1" in trace.read_text(), process)
    return process, trace, flag


def _wait_for(condition: Callable[[], bool], process: Any) -> None:
    import time

    deadline = time.monotonic() + WAIT_LIMIT
    while not condition():
        assert process.poll() is None, process.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "the writer did not reach its pause point"
        time.sleep(0.05)


def test_embedded_processes_take_turns(
    tmp_path: Path, versions, expected, tiny_bi_encoder: Path
) -> None:
    db = tmp_path / "db"
    assert run_cli(*_argv(versions["x"], tiny_bi_encoder, "--db", db)).returncode == 0
    first, _, go = _paused_writer(tmp_path, versions["y"], tiny_bi_encoder, "--db", db)
    second = start_cli(*_argv(versions["x"], tiny_bi_encoder, "--db", db))
    waiting = threading.Event()
    second_err: list[str] = []

    def read_second() -> None:
        assert second.stderr is not None
        for line in second.stderr:  # it says so when it has to wait for the first
            second_err.append(line)
            if "waiting for another writer" in line:
                waiting.set()

    reader = threading.Thread(target=read_second)
    reader.start()
    waited = waiting.wait(WAIT_LIMIT)
    go.touch()
    _, first_err = first.communicate(timeout=WAIT_LIMIT)
    second.wait(WAIT_LIMIT)
    reader.join(WAIT_LIMIT)
    assert waited, "".join(second_err)
    assert first.returncode == 0 and second.returncode == 0, first_err + "".join(second_err)

    assert _holds(snapshot(db, scratch=tmp_path), expected) == "x"
    for name in ("y", "x"):
        assert run_cli(*_argv(versions[name], tiny_bi_encoder, "--db", db)).returncode == 0
        assert snapshot(db, scratch=tmp_path).hashes == expected[name].hashes


def test_server_processes_one_paused_by_the_other_end_with_the_last_version(
    tmp_path: Path, chroma_server: str, versions, expected, tiny_bi_encoder: Path
) -> None:
    host, port = chroma_server.removeprefix("http://").split(":")
    client = chromadb.HttpClient(host=host, port=int(port))
    name = f"overlap-{uuid.uuid4().hex[:8]}"
    store = ("--chroma-url", chroma_server, "--collection", name)
    assert run_cli(*_argv(versions["x"], tiny_bi_encoder, *store)).returncode == 0
    first, _, go = _paused_writer(tmp_path, versions["y"], tiny_bi_encoder, *store)
    second = run_cli(*_argv(versions["x"], tiny_bi_encoder, *store))
    go.touch()
    _, first_err = first.communicate(timeout=WAIT_LIMIT)
    assert second.returncode == 0 and first.returncode == 0, second.stderr + first_err
    assert "writing them again" in first_err

    assert _holds(_read_server(client, name), expected) == "y"
    for version in ("x", "y"):
        assert run_cli(*_argv(versions[version], tiny_bi_encoder, *store)).returncode == 0
        assert _read_server(client, name).hashes == expected[version].hashes
    client.delete_collection(name)


@pytest.mark.parametrize("kind", ["embedded", "server"])
def test_processes_started_together_leave_one_version_or_say_so(
    tmp_path: Path, chroma_server: str, versions, expected, tiny_bi_encoder: Path, kind: str
) -> None:
    name = f"overlap-{uuid.uuid4().hex[:8]}"
    if kind == "embedded":
        store: tuple[object, ...] = ("--db", tmp_path / "db")
        read = lambda: snapshot(tmp_path / "db", scratch=tmp_path)  # noqa: E731
    else:
        store = ("--chroma-url", chroma_server, "--collection", name)
        host, port = chroma_server.removeprefix("http://").split(":")
        client = chromadb.HttpClient(host=host, port=int(port))
        read = lambda: _read_server(client, name)  # noqa: E731
    env = cli_env(COURSE_SKILLS_PAGE=str(PAGE))
    outcomes = []
    for _ in range(2):
        assert run_cli(*_argv(versions["x"], tiny_bi_encoder, *store)).returncode == 0
        both = [
            start_cli(*_argv(versions[v], tiny_bi_encoder, *store), env=env) for v in ("y", "x")
        ]
        results = [(p.communicate(timeout=WAIT_LIMIT)[1], p.returncode) for p in both]
        results = [(status, err) for err, status in results]
        for status, err in results:
            assert status == 0 or (status == 1 and "another writer kept changing" in err), err
        state = read()
        if any(status for status, _ in results):
            assert not state.metadata.get(SYNC_DIGEST_KEY)
            outcomes.append("conflict")
        else:
            outcomes.append(_holds(state, expected))
    for version in ("x", "y"):
        assert run_cli(*_argv(versions[version], tiny_bi_encoder, *store)).returncode == 0
        assert read().hashes == expected[version].hashes
    if kind == "server":
        client.delete_collection(name)
    print(f"{kind} processes: 2 races, outcomes {outcomes}")
    shutil.rmtree(tmp_path / "db", ignore_errors=True)
