"""Storage-fault suite: a read-only store, a full disk, truncated and overwritten files.

Every command answers with a result or one line that says what happened and what to do,
and a failed command leaves the store's files as they were. The tests run as root, for whom
`chmod` changes nothing: a read-only store is a read-only bind mount where `mount` works, else
files with the immutable attribute (`chattr +i`); a full disk is a small tmpfs where `mount`
works, else a file-size limit (RLIMIT_FSIZE) on the writing process.
"""

from __future__ import annotations

import contextlib
import os
import random
import resource
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ESCO_EN
from tests.reliability import (
    assert_one_line_error,
    cli_command,
    cli_env,
    read_rows,
    run_cli,
    snapshot,
    tree_digest,
    write_taxonomy,
)

pytestmark = [pytest.mark.faults, pytest.mark.integration]  # subprocesses, servers

QUERY = "Tabellenkalkulation und Datenbanken"


def _quiet(*command: object) -> bool:
    return subprocess.run([str(c) for c in command], capture_output=True).returncode == 0


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[str]:
    """Make `folder` read-only, for root too; yield how."""
    if _quiet("mount", "--bind", folder, folder):
        if _quiet("mount", "-o", "remount,ro,bind", folder, folder):
            try:
                yield "read-only bind mount"
            finally:
                _quiet("umount", folder)
            return
        _quiet("umount", folder)
    if _quiet("chattr", "-R", "+i", folder):
        try:
            yield "immutable files (chattr +i)"
        finally:
            _quiet("chattr", "-R", "-i", folder)
        return
    pytest.skip("neither a read-only bind mount nor chattr +i works here")


@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[bool]:
    """Mount a tmpfs of `size` on `folder`; yield False where mounting is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    if not _quiet("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", folder):
        yield False
        return
    try:
        yield True
    finally:
        _quiet("umount", "-l", folder)


@pytest.fixture(scope="module")
def taxonomies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The first 1,200 ESCO skills (over chromadb's 1,000 that fill the HNSW files, which a
    smaller store keeps in its SQLite log only), and the first 2,400."""
    rows, fields = read_rows(ESCO_EN)
    folder = tmp_path_factory.mktemp("storage-taxonomies")
    return {
        "base": write_taxonomy(rows[:1200], fields, folder / "base.csv"),
        "bigger": write_taxonomy(rows[:2400], fields, folder / "bigger.csv"),
    }


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, taxonomies: dict[str, Path], tiny_bi_encoder: Path
) -> Path:
    """A store of the base taxonomy, built by `course-skills index` in its own process.

    One passage per skill on purpose: the suite is sized in passages (over chromadb's 1,000,
    a 32 MB disk). Every later `index` of a copy keeps these views, as no --views is given.
    """
    db = tmp_path_factory.mktemp("storage") / "skills-db"
    base = taxonomies["base"]
    result = run_cli("index", base, "--db", db, "--model", tiny_bi_encoder, "--views", "label")
    assert result.returncode == 0, result.stderr[-2000:]
    return db


@pytest.fixture()
def store(tmp_path: Path, built: Path) -> Path:
    """A copy of the built store for one test to damage."""
    db = tmp_path / "skills-db"
    shutil.copytree(built, db)
    return db


def _commands(db: Path, source: Path, model: Path) -> dict[str, list[object]]:
    return {
        "info": ["info", "--db", db],
        "search": ["search", QUERY, "--db", db, "-n", "5", "--json"],
        "index": ["index", source, "--db", db, "--model", model],
    }


# --- read-only ---------------------------------------------------------------------------------


def test_read_only_store_is_read_and_refuses_index_in_one_line(
    tmp_path: Path, store: Path, taxonomies: dict[str, Path], tiny_bi_encoder: Path
) -> None:
    commands = _commands(store, taxonomies["base"], tiny_bi_encoder)
    writable = {name: run_cli(*commands[name]) for name in ("info", "search")}
    before = tree_digest(store)
    with read_only(store) as how:
        results = {name: run_cli(*argv) for name, argv in commands.items()}
    print(f"read-only store: {how}")

    for name in ("info", "search"):
        assert results[name].returncode == 0, results[name].stderr[-2000:]
        assert results[name].stdout == writable[name].stdout
    assert_one_line_error(results["index"], "read-only", "copy the folder")
    assert tree_digest(store) == before


# --- full disk ---------------------------------------------------------------------------------


def test_full_disk_fails_in_one_line_keeps_the_store_and_resumes_once_space_is_free(
    tmp_path: Path, built: Path, taxonomies: dict[str, Path], tiny_bi_encoder: Path
) -> None:
    bigger = taxonomies["bigger"]
    reference = tmp_path / "reference"
    shutil.copytree(built, reference)
    assert run_cli("index", bigger, "--db", reference, "--model", tiny_bi_encoder).returncode == 0
    disk = tmp_path / "disk"
    with small_disk(disk, "32m") as mounted:
        db = disk / "skills-db"
        shutil.copytree(built, db)
        before = snapshot(db, scratch=tmp_path)
        filler = disk / "filler"
        limit: Callable[[], None] | None = None
        if mounted:  # leave 1 MiB: the 1,200 new skills need several
            free = shutil.disk_usage(disk).free
            filler.write_bytes(b"\0" * (free - (1 << 20)))
        else:
            size = (db / "chroma.sqlite3").stat().st_size + (1 << 20)

            def limit() -> None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

        argv = cli_command("index", bigger, "--db", db, "--model", tiny_bi_encoder)
        failed = subprocess.run(
            argv, capture_output=True, text=True, env=cli_env(), preexec_fn=limit, check=False
        )
        print(f"full disk: {'tmpfs' if mounted else 'RLIMIT_FSIZE'}; {failed.stderr[-300:]!r}")
        assert_one_line_error(failed, "free space" if mounted else "disk is full")

        if filler.exists():
            filler.unlink()
        kept = snapshot(db, scratch=tmp_path)  # nothing the store held is lost
        assert set(before.ids) <= set(kept.ids)
        assert all(kept.hashes[i] == before.hashes[i] for i in before.ids)
        assert run_cli("info", "--db", db).returncode == 0
        resumed = run_cli("index", bigger, "--db", db, "--model", tiny_bi_encoder)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        state, expected = snapshot(db, scratch=tmp_path), snapshot(reference, scratch=tmp_path)
        assert state.ids == expected.ids and state.hashes == expected.hashes


# --- damaged files -----------------------------------------------------------------------------


def _segment_file(db: Path, name: str) -> Path:
    header = next(db.glob("*/header.bin")).read_bytes()
    assert int.from_bytes(header[28:36], "little") > 0, "the HNSW files hold no skill"
    return next(db.glob(f"*/{name}"))


def _overwrite(path: Path, start: int, length: int) -> None:
    noise = random.Random(0).randbytes(length)
    with path.open("r+b") as handle:
        handle.seek(start)
        handle.write(noise)


def _damage(db: Path, kind: str) -> None:
    sqlite = db / "chroma.sqlite3"
    size = sqlite.stat().st_size
    if kind == "sqlite-truncated":
        os.truncate(sqlite, size // 2)
    elif kind == "sqlite-emptied":
        os.truncate(sqlite, 0)
    elif kind == "sqlite-header-overwritten":
        _overwrite(sqlite, 0, 100)
    elif kind == "sqlite-middle-overwritten":
        _overwrite(sqlite, size // 4, size // 2)
    elif kind == "hnsw-truncated":
        os.truncate(_segment_file(db, "data_level0.bin"), 1000)
    elif kind == "hnsw-links-overwritten":  # hnswlib would follow the links and crash
        data = _segment_file(db, "data_level0.bin")
        _overwrite(data, 0, min(4096, data.stat().st_size))
    elif kind == "hnsw-header-overwritten":
        _overwrite(_segment_file(db, "header.bin"), 0, 100)
    elif kind == "hnsw-file-missing":
        _segment_file(db, "data_level0.bin").unlink()


DAMAGES = [
    "sqlite-truncated",
    "sqlite-emptied",
    "sqlite-header-overwritten",
    "sqlite-middle-overwritten",
    "hnsw-truncated",
    "hnsw-links-overwritten",
    "hnsw-header-overwritten",
    "hnsw-file-missing",
]


@pytest.mark.parametrize("kind", DAMAGES)
def test_damaged_store_gives_one_line_errors_and_stays_as_it_was(
    store: Path, taxonomies: dict[str, Path], tiny_bi_encoder: Path, kind: str
) -> None:
    _damage(store, kind)
    before = tree_digest(store)
    for name, argv in _commands(store, taxonomies["base"], tiny_bi_encoder).items():
        result = run_cli(*argv)
        line = assert_one_line_error(result)
        assert "damaged" in line or "rebuild" in line, (name, line)
        assert tree_digest(store) == before, name


@pytest.mark.parametrize(
    ("message", "error", "blames_the_disk"),
    [
        (
            "Error executing plan: error returned from database: (code: 1) too many SQL variables",
            "StoreRequestError",
            False,
        ),
        (
            "Error executing plan: Internal error: something else went wrong",
            "StoreRequestError",
            False,
        ),
        ("error returned from database: (code: 10) disk I/O error", "StoreUnavailableError", True),
    ],
)
def test_a_chroma_failure_blames_the_disk_only_when_it_is_one(
    tmp_path: Path, message: str, error: str, blames_the_disk: bool
) -> None:
    from chromadb.errors import InternalError

    from langchain_course_skills.store._storage import store_fault

    found = store_fault(InternalError(message), "--db skills-db", folder=tmp_path)

    assert type(found).__name__ == error
    assert ("disk is full" in str(found)) is blames_the_disk
    assert ("rebuild the store" in str(found)) is blames_the_disk
