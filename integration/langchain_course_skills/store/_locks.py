"""One writer at a time on an embedded store: a file lock next to the store folder.

Two syncs of one folder (threads or processes) would otherwise interleave their writes and
their records of what the store holds. The lock is `skills-db.lock` beside `skills-db/`, an
`flock` that the system releases when its holder ends, even by SIGKILL, so a killed build
never blocks the next one. Readers do not take it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from langchain_course_skills.errors import StoreUnavailableError

logger = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"  # the lock file is the store folder's name with this suffix
_NOTICE_AFTER = 1.0  # seconds to wait quietly before saying that another writer holds it


def lock_path(folder: Path) -> Path:
    """Return the lock file of the embedded store `folder`."""
    return folder.with_name(folder.name + LOCK_SUFFIX)


@contextlib.contextmanager
def store_write_lock(folder: Path) -> Iterator[None]:
    """Hold the write lock of the embedded store `folder`, waiting for another writer to end.

    Raises:
        StoreUnavailableError: The lock file cannot be created (a read-only parent folder).
    """
    path = lock_path(folder)
    lock = FileLock(str(path))
    try:
        try:
            lock.acquire(timeout=_NOTICE_AFTER)
        except Timeout:
            logger.warning(
                "waiting for another writer of %s to finish (lock %s held)", folder, path
            )
            lock.acquire()
    except OSError as exc:
        msg = (
            f"cannot create the write lock {str(path)!r} next to the store ({exc.strerror}); "
            "the folder that holds the store must be writable to index into it"
        )
        raise StoreUnavailableError(msg) from exc
    try:
        yield
    finally:
        lock.release()
