"""Open embedded stores safely, and turn storage faults into errors that say what to do.

Faults of the store come out of chromadb and httpx in many shapes (`attempt to write a
readonly database`, `database disk image is malformed`, `ConnectError`, a segmentation fault
on a damaged HNSW file). This module is the one place that knows them:

- `store_faults(where)` turns them into `StoreUnavailableError` or `StoreCorruptError`;
- `open_embedded_client(folder, write=...)` checks the files before chromadb reads them (a
  damaged HNSW index would crash the process), refuses to write on read-only media, and
  reads such a store from a temporary copy: chromadb 1.x writes to `chroma.sqlite3` whenever
  it opens one, so the original is never opened where it cannot be written.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import logging
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from langchain_course_skills.errors import (
    CourseSkillsError,
    StoreCorruptError,
    StoreRequestError,
    StoreUnavailableError,
    parameter,
)

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

logger = logging.getLogger(__name__)

SQLITE_FILE = "chroma.sqlite3"  # every embedded Chroma store folder has this file
_SQLITE_MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database
# hnswlib's header.bin as chromadb 1.x writes it: format version, then offsetLevel0,
# max_elements, cur_element_count, size_data_per_element, label_offset, offsetData (size_t),
# maxlevel (int), enterpoint_node (uint32), maxM, maxM0, M (size_t), mult (double),
# ef_construction (size_t).
_HNSW_HEADER = struct.Struct("<i6QiI3QdQ")
_HNSW_VERSION = 1  # the header version checked; a later one is left to chromadb
_HNSW_LATER_VERSIONS = 100  # versions above this (or below 1) are damage, not a new format
_HNSW_MAX_LEVEL = 64  # far above any real index (levels grow with log_M of the count)
_LOW_SPACE = 1 << 20  # bytes free below which a write error of chromadb means a full disk
# Error texts of chromadb's SQLite and HNSW layers, and what they mean.
_READ_ONLY = ("readonly database", "read-only file system")
_FULL = ("disk is full", "no space left", "file too large", "disk quota")
_CORRUPT = (
    "malformed",
    "not a database",
    "hnsw",
    "backfill",
    "error finding id",
    "pickle",
    "segment reader",
)
# chromadb's words for a store whose files could not be read or written (a disk unplugged,
# failing or full): only these are blamed on the disk.
_IO = ("disk i/o error", "unable to open database file", "failed to apply logs", "i/o error")
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}


def _has(text: str, needles: tuple[str, ...]) -> bool:
    lowered = text.lower()
    return any(needle in lowered for needle in needles)


def _server_fault(exc: Exception, where: str) -> CourseSkillsError | None:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        msg = (
            f"the Chroma server ({where}) did not answer in time ({type(exc).__name__}); it "
            f"may be stopped or overloaded: check it ({parameter('timeout')} gives it longer), "
            "then run the same command again"
        )
        return StoreUnavailableError(msg)
    if isinstance(exc, httpx.TransportError):
        msg = (
            f"lost the connection to the Chroma server ({where}): {type(exc).__name__} "
            f"{str(exc) or 'without a message'}; check that it runs (`chroma run --path DIR "
            "--port PORT`), then run the same command again: a build resumes where it stopped"
        )
        return StoreUnavailableError(msg)
    return None


def _nearly_full(folder: Path | None) -> bool:
    """Whether the disk of an embedded store has (almost) no space left."""
    if folder is None:
        return False
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    try:
        return existing is not None and shutil.disk_usage(existing).free < _LOW_SPACE
    except OSError:
        return False


def store_fault(
    exc: BaseException, where: str, *, files: bool = True, folder: Path | None = None
) -> CourseSkillsError | None:
    """Return the error that explains the storage fault `exc`, or None if it is none.

    Args:
        exc: What chromadb, httpx or the file system raised.
        where: The store, as the user named it (`--db skills-db`, a server URL).
        files: Count the file system's errors (`OSError`) as the store's; only where the
            store was being read or written.
        folder: The embedded store's folder: chromadb reports a full disk in other words
            ("Failed to apply logs"), so a chromadb error there with no space left is that.
    """
    if not isinstance(exc, Exception) or isinstance(exc, CourseSkillsError):
        return None
    server = _server_fault(exc, where)
    if server is not None:
        return server
    from chromadb.errors import ChromaError, InternalError

    text = str(exc)
    code = exc.errno if isinstance(exc, OSError) else None
    if not isinstance(exc, (ChromaError, OSError)) or (isinstance(exc, OSError) and not files):
        return None
    if _has(text, _READ_ONLY) or code in _READ_ONLY_ERRNOS:
        msg = (
            f"the store ({where}) is read-only ({text}); searching reads it as it is, but to "
            "index, copy the folder somewhere writable and pass that"
        )
        return StoreUnavailableError(msg)
    if _has(text, _FULL) or code in _FULL_ERRNOS or _nearly_full(folder):
        msg = (
            f"no space left to write the store ({where}): {text}; free space on its disk, then "
            "run the same command again: the store keeps what it held before the failed write"
        )
        return StoreUnavailableError(msg)
    if _has(text, _CORRUPT):
        return corrupt(where, text)
    if isinstance(exc, InternalError) and _has(text, _IO):
        msg = (
            f"the store ({where}) failed to read or write its files ({text}); if its disk is "
            "full or was unplugged, fix that, then run the same command again; if it fails "
            f"again, rebuild the store from the taxonomy ({parameter('build_skill_store')} "
            f"into a new {parameter('persist_directory', repr('NEW_DIR'))})"
        )
        return StoreUnavailableError(msg)
    if isinstance(exc, InternalError):  # the store refused a request: not its disk
        msg = (
            f"the store ({where}) could not answer a request ({text}); this is no fault of its "
            "disk or files: run the same command again, and if it fails again, report it with "
            "this message"
        )
        return StoreRequestError(msg)
    return None


def corrupt(where: str, problem: str) -> StoreCorruptError:
    """Return the error for a store whose files are damaged."""
    msg = (
        f"the store ({where}) is damaged: {problem}; rebuild it from the taxonomy "
        f"({parameter('build_skill_store')}) into a new "
        f"{parameter('persist_directory', repr('NEW_DIR'))} or restore a backup"
    )
    return StoreCorruptError(msg)


@contextlib.contextmanager
def store_faults(where: str, folder: Path | None = None) -> Iterator[None]:
    """Turn the storage faults raised inside into `StoreUnavailableError`/`StoreCorruptError`."""
    try:
        yield
    except Exception as exc:
        error = store_fault(exc, where, folder=folder)
        if error is None:
            raise
        raise error from exc


def _check_sqlite(folder: Path, where: str) -> None:
    """Check chroma.sqlite3 without writing to it (about 60 ms for all of ESCO).

    chromadb writes to the file whenever it opens it, which would change a damaged store
    before the damage shows.
    """
    import sqlite3

    sqlite = folder / SQLITE_FILE
    if not sqlite.exists():
        return
    with sqlite.open("rb") as handle:
        head = handle.read(len(_SQLITE_MAGIC))
    if head != _SQLITE_MAGIC:
        problem = "chroma.sqlite3 is empty" if not head else "chroma.sqlite3 is not a database"
        raise corrupt(where, problem)
    try:
        with contextlib.closing(
            sqlite3.connect(f"{sqlite.resolve().as_uri()}?mode=ro", uri=True)
        ) as connection:
            result = connection.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        if _has(str(exc), _CORRUPT):
            raise corrupt(where, f"chroma.sqlite3: {exc}") from exc
        # Locked by a writer, or a journal to roll back first: chromadb deals with those.
        logger.debug("%s not checked: %s", sqlite, exc)
        return
    problems = [row[0] for row in result if row and row[0] != "ok"]
    if problems:
        raise corrupt(where, f"chroma.sqlite3 fails SQLite's check: {problems[0]}")


def _check_links(links: object, count: int, limit: int, name: str, where: str) -> None:
    """Check rows of hnswlib link lists: a count, then up to `limit` ids below `count`."""
    import numpy as np

    rows = np.asarray(links)
    counts = rows[:, 0] & 0xFFFF
    if rows.size and int(counts.max()) > limit:
        raise corrupt(where, f"{name} has a node with {int(counts.max())} links (at most {limit})")
    used = np.arange(rows.shape[1] - 1)[None, :] < counts[:, None]
    ids = rows[:, 1:][used]
    if ids.size and int(ids.max()) >= count:
        raise corrupt(where, f"{name} links to node {int(ids.max())} of {count}")


def _check_hnsw(segment: Path, where: str) -> None:
    """Check one HNSW segment folder well enough that hnswlib cannot crash on it."""
    import numpy as np

    header = (segment / "header.bin").read_bytes()
    if len(header) != _HNSW_HEADER.size:
        raise corrupt(where, f"{segment.name}/header.bin has {len(header)} bytes")
    (version, offset0, max_elements, count, size, label_at, data_at, max_level, enter) = (
        _HNSW_HEADER.unpack(header)[:9]
    )
    if version != _HNSW_VERSION:
        if not 0 < version <= _HNSW_LATER_VERSIONS:
            raise corrupt(where, f"{segment.name}/header.bin does not describe an HNSW index")
        logger.debug("HNSW header version %d of %s not checked", version, segment)
        return
    max_m, max_m0 = _HNSW_HEADER.unpack(header)[9:11]
    if (
        offset0 != 0
        or count > max_elements
        or data_at != max_m0 * 4 + 4
        or label_at + 8 != size
        or label_at <= data_at
        or not -1 <= max_level < _HNSW_MAX_LEVEL  # -1: empty
        or (count and (enter >= count or max_level < 0))
    ):
        raise corrupt(where, f"{segment.name}/header.bin does not describe an HNSW index")
    level0 = segment / "data_level0.bin"
    if level0.stat().st_size < count * size:
        raise corrupt(where, f"{segment.name}/data_level0.bin is truncated")
    data = np.fromfile(level0, dtype=np.uint8, count=count * size).reshape(count, size)
    links0 = data[:, :data_at].copy().view(np.uint32)
    _check_links(links0, count, max_m0, f"{segment.name}/data_level0.bin", where)
    upper_file = segment / "link_lists.bin"
    if upper_file.exists():
        _check_upper_levels(upper_file.read_bytes(), count, max_m, max_level, where)


def _check_upper_levels(data: bytes, count: int, max_m: int, max_level: int, where: str) -> None:
    """Check link_lists.bin: per node, a uint32 byte size, then one link list per level."""
    import numpy as np

    block = max_m * 4 + 4
    name = "link_lists.bin"
    blocks: list[bytes] = []
    position = 0
    for _ in range(count):
        if position + 4 > len(data):
            raise corrupt(where, f"{name} is truncated")
        (size,) = struct.unpack_from("<I", data, position)
        position += 4
        if size % block or size // block > max_level or position + size > len(data):
            raise corrupt(where, f"{name} has a node with a link list of {size} bytes")
        blocks.append(data[position : position + size])
        position += size
    if position != len(data):
        raise corrupt(where, f"{name} has {len(data) - position} bytes after its last node")
    upper = np.frombuffer(b"".join(blocks), dtype=np.uint32).reshape(-1, max_m + 1)
    _check_links(upper, count, max_m, name, where)


def check_store_files(folder: Path, where: str) -> None:
    """Check an embedded store's files before chromadb reads them.

    Raises:
        StoreCorruptError: `chroma.sqlite3` is not a database, or an HNSW index is damaged.
    """
    _check_sqlite(folder, where)
    for header in sorted(folder.glob("*/header.bin")):
        try:
            _check_hnsw(header.parent, where)
        except CourseSkillsError:
            raise
        except OSError as exc:  # a file of the segment is missing or unreadable
            raise corrupt(where, f"{header.parent.name}: {exc.strerror or exc}") from exc
        except ValueError as exc:  # numpy could not shape a truncated file
            raise corrupt(where, f"{header.parent.name}: {exc}") from exc


def is_writable(folder: Path) -> bool:
    """Whether the store in `folder` can be written (False on read-only media)."""
    sqlite = folder / SQLITE_FILE
    return os.access(folder, os.W_OK) and (not sqlite.exists() or os.access(sqlite, os.W_OK))


def _read_only_copy(folder: Path) -> Path:
    """Copy a read-only store to a temporary folder that is removed when the process ends."""
    try:
        temporary = Path(tempfile.mkdtemp(prefix="course-skills-readonly-"))
        atexit.register(shutil.rmtree, temporary, ignore_errors=True)
        copy = temporary / folder.name
        shutil.copytree(folder, copy)
    except (OSError, shutil.Error) as exc:
        msg = (
            f"the store {str(folder)!r} is read-only, and reading it needs a temporary copy "
            f"(chromadb writes to a store it opens), which failed ({exc}); set TMPDIR to a "
            "folder with room for it, or copy the store somewhere writable yourself"
        )
        raise StoreUnavailableError(msg) from exc
    logger.info("%s is read-only; reading it from a temporary copy in %s", folder, copy)
    return copy


def open_embedded_client(folder: str | Path, *, write: bool) -> ClientAPI:
    """Open the embedded store in `folder` (created if missing when `write`).

    Args:
        folder: The store folder.
        write: Open it to write. A read-only store is then refused; to read, it is copied
            to a temporary folder first, because chromadb writes to a store it opens.

    Raises:
        StoreCorruptError: The store's files are damaged.
        StoreUnavailableError: `write` on a read-only store.
    """
    import chromadb

    # An absolute path: chromadb keeps one client per path string, so a relative path would
    # reach the folder of the working directory it was first opened from.
    path = Path(folder).expanduser().resolve()
    where = parameter("persist_directory", repr(str(folder)))
    if path.is_dir():
        check_store_files(path, where)
        if not is_writable(path):
            if write:
                msg = (
                    f"the store ({where}) is on read-only media or not writable; searching "
                    "reads it as it is, but to index, copy the folder somewhere writable and "
                    "pass that"
                )
                raise StoreUnavailableError(msg)
            path = _read_only_copy(path)
    with store_faults(where, path):
        return chromadb.PersistentClient(path=str(path))
