"""The benchmark still runs (tiny models, slices), and the store fast paths it measures hold.

No timing is asserted: speed is measured by `benchmarks/run.py`, not by tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import chromadb
import pytest
from langchain_core.documents import Document

from langchain_course_skills import E5Embeddings, sync_skill_store
from langchain_course_skills.store import (
    HNSW_CONFIGURATION,
    SYNC_COUNT_KEY,
    SYNC_DIGEST_KEY,
    SyncReport,
    read_fingerprint,
    skill_collection,
)


def _skills(*texts: str, **extra: object) -> list[Document]:
    return [
        Document(id=f"urn:test:{i}", page_content=text, metadata={"label": text, **extra})
        for i, text in enumerate(texts)
    ]


def _sync(docs: list[Document], embeddings: E5Embeddings, path: Path, **kwargs: Any) -> SyncReport:
    return sync_skill_store(docs, embeddings, persist_directory=path, show_progress=False, **kwargs)


def test_rerun_of_an_unchanged_taxonomy_records_a_digest_and_changes_nothing(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    docs = _skills("WordPress", "SQL", "Python")
    _sync(docs, tiny_embeddings, tmp_path)

    again = _sync(docs, tiny_embeddings, tmp_path)

    metadata = skill_collection(again.store).metadata
    assert (again.added, again.updated, again.unchanged, again.removed) == (0, 0, 3, 0)
    assert skill_collection(again.store).count() == 3
    assert metadata[SYNC_DIGEST_KEY] and metadata[SYNC_COUNT_KEY] == 3


def test_skill_deleted_outside_a_sync_is_written_again(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    docs = _skills("WordPress", "SQL", "Python")
    first = _sync(docs, tiny_embeddings, tmp_path)
    skill_collection(first.store).delete(ids=["urn:test:1"])

    again = _sync(docs, tiny_embeddings, tmp_path)

    assert (again.added, again.unchanged) == (1, 2)
    assert skill_collection(again.store).count() == 3


def test_prune_after_a_partial_taxonomy_still_removes_the_rest(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    # Same digest and count as the last sync, but prune must still drop the extra skill.
    docs = _skills("WordPress", "SQL", "Python")
    _sync(docs, tiny_embeddings, tmp_path)
    _sync(docs[:2], tiny_embeddings, tmp_path)

    pruned = _sync(docs[:2], tiny_embeddings, tmp_path, prune=True)

    assert pruned.removed == 1
    assert skill_collection(pruned.store).count() == 2


def test_an_interrupted_sync_is_completed_by_the_next_run(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    old = _skills("WordPress", "SQL", "Python", "Projektmanagement")
    _sync(old, tiny_embeddings, tmp_path)
    new = _skills("WordPress 6", "SQL 2", "Python 3", "Projektmanagement und Führung")
    new[-1].metadata["bad"] = {"nested": "Chroma refuses this"}  # the longest: the last batch
    with pytest.raises(Exception):  # noqa: B017 - whatever Chroma raises, it stops here
        _sync(new, tiny_embeddings, tmp_path, batch_size=2)

    repaired = _sync(old, tiny_embeddings, tmp_path)

    stored = skill_collection(repaired.store).get(include=["documents"])
    assert repaired.updated == 2  # the two skills the interrupted run had rewritten
    assert sorted(stored["documents"]) == sorted(doc.page_content for doc in old)


def test_fingerprint_records_the_collection_own_hnsw_settings(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    client = chromadb.PersistentClient(path=str(tmp_path))
    client.create_collection(
        "skills",
        configuration={"hnsw": {"space": "cosine", "ef_search": 64}},
        embedding_function=None,
    )

    report = sync_skill_store(
        _skills("WordPress"), tiny_embeddings, client=client, show_progress=False
    )

    fingerprint = read_fingerprint(skill_collection(report.store))
    assert fingerprint["hnsw_ef_search"] == "64"
    assert fingerprint["hnsw_space"] == "cosine"
    assert HNSW_CONFIGURATION["ef_search"] != 64
