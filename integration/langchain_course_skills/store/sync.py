"""Building and updating a store: an idempotent, resumable sync of a taxonomy's passages."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from langchain_chroma import Chroma
from langchain_core.documents import Document
from tqdm.auto import tqdm
from typing_extensions import Unpack

from langchain_course_skills._version import package_version
from langchain_course_skills.errors import StoreConflictError
from langchain_course_skills.store._faults import fault_point, page_size
from langchain_course_skills.store._locks import store_write_lock
from langchain_course_skills.store._storage import store_faults
from langchain_course_skills.store.fingerprint import (
    FINGERPRINT_PREFIX,
    HASH_KEY,
    HNSW_CONFIGURATION,
    LANGUAGES_KEY,
    SKILLS_KEY,
    SYNC_COUNT_KEY,
    SYNC_DIGEST_KEY,
    VIEWS_KEY,
    _verify,
    _verify_views,
    embeddings_fingerprint,
    read_fingerprint,
    sync_views,
)
from langchain_course_skills.store.inspect import iter_stored
from langchain_course_skills.store.location import (
    _check_location,
    _chroma,
    _client,
    _embedded_folder,
    _store_label,
    _where,
    find_collection,
)
from langchain_course_skills.views import (
    DEFAULT_VIEWS,
    check_languages,
    check_views,
    is_main_passage,
    view_passages,
)
from langchain_course_skills.vocabulary import DEFAULT_COLLECTION, LANGUAGE_KEY, TEMPLATE_KEY

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from langchain_core.embeddings import Embeddings

logger = logging.getLogger(__name__)

DEFAULT_WRITE_BATCH = 1024  # skills embedded and written per step (kept under the client limit)
_HNSW_RECORDED = ("space", "ef_construction", "ef_search", "max_neighbors")
MAX_SYNC_PASSES = 3  # write-and-read-back passes before giving up on a writer that interferes


@dataclass(frozen=True)
class SyncReport:
    """What one build did to the store."""

    store: Chroma
    """The store, ready to search."""
    added: int
    """Passages that were new (with one view, a passage is a skill)."""
    updated: int
    """Passages whose text or metadata changed (embedded again)."""
    unchanged: int
    """Passages left as they were (not embedded again)."""
    removed: int
    """Passages deleted because they left the taxonomy (only with prune)."""
    total: int
    """Passages in the collection afterwards (from any source)."""
    collection: str
    """The collection's name."""
    seconds: float
    """Wall time of the build."""
    views: tuple[str, ...] = DEFAULT_VIEWS
    """The view kinds the store holds of each skill."""
    skills: int = 0
    """Skills given to this build (each stored as one passage per view and language)."""


class SyncOptions(TypedDict, total=False):
    """The keyword options of `sync_skill_store`, which `build_skill_store` passes on."""

    persist_directory: str | Path | None
    client: ClientAPI | None
    collection_name: str
    prune: bool
    batch_size: int
    show_progress: bool
    views: Sequence[str] | None
    translations: Mapping[str, Sequence[Document]] | None


def _hnsw_settings(collection: Collection) -> dict[str, str]:
    """The collection's own HNSW settings, for the fingerprint (not this version's defaults)."""
    settings = (collection.configuration_json or {}).get("hnsw") or {}
    return {
        f"{FINGERPRINT_PREFIX}hnsw_{key}": str(settings[key])
        for key in _HNSW_RECORDED
        if key in settings
    }


def _templates(documents: Sequence[Document]) -> str:
    return " | ".join(sorted({str(d.metadata.get(TEMPLATE_KEY, "")) for d in documents} - {""}))


def _fresh_metadata(client: ClientAPI, name: str) -> dict[str, Any]:
    """The collection's metadata as stored now, not as read when the sync began."""
    return dict(client.get_collection(name, embedding_function=None).metadata or {})


def _content_hash(doc: Document) -> str:
    payload = json.dumps([doc.page_content, doc.metadata], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _check_documents(documents: Sequence[Document]) -> None:
    seen: set[str] = set()
    for index, doc in enumerate(documents):
        if not isinstance(doc, Document):
            msg = f"documents[{index}] is a {type(doc).__name__}, not a langchain Document"
            raise ValueError(msg)
        if not doc.id:
            msg = (
                f"documents[{index}] ({doc.page_content[:40]!r}) has no id; the loaders set one, "
                "for your own documents set Document(id=...) so that re-builds do not duplicate"
            )
            raise ValueError(msg)
        if not doc.page_content.strip():
            msg = f"document {doc.id!r} has empty page_content; give every skill a text"
            raise ValueError(msg)
        if doc.id in seen:
            msg = f"id {doc.id!r} appears twice in documents; ids must be unique"
            raise ValueError(msg)
        seen.add(doc.id)


def _stored_hashes(collection: Collection) -> dict[str, str]:
    return {doc_id: str(meta.get(HASH_KEY, "")) for doc_id, meta, _ in iter_stored(collection)}


def _digest(hashes: Mapping[str | None, str]) -> str:
    lines = sorted(f"{doc_id}\t{value}" for doc_id, value in hashes.items())
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def _count_if_unchanged(
    collection: Collection, digest: str, documents: int, prune: bool
) -> int | None:
    """The collection's count if the last completed sync was given these very skills."""
    metadata = collection.metadata or {}
    if metadata.get(SYNC_DIGEST_KEY) != digest:
        return None
    count = collection.count()
    # Another count means skills were added or deleted outside a sync; with prune, ids beyond
    # the documents given (count > documents) must go, so those cases take the full path.
    unchanged = count == metadata.get(SYNC_COUNT_KEY) and (not prune or count == documents)
    return count if unchanged else None


def _forget_digest(client: ClientAPI, collection: Collection) -> None:
    """Clear the record of the last completed sync before writing.

    After an interrupted run (or beside another writer) it would vouch for skills that this
    run has not written yet.
    """
    metadata = _fresh_metadata(client, collection.name)
    if metadata.get(SYNC_DIGEST_KEY):
        collection.modify(metadata={**metadata, SYNC_DIGEST_KEY: ""})
    fault_point("cleared")


def _differences(
    documents: Sequence[Document], hashes: Mapping[str | None, str], stored: Mapping[str, str]
) -> list[Document]:
    pending = [doc for doc in documents if stored.get(str(doc.id)) != hashes[doc.id]]
    # Main passages first: once they are in, every skill can be found (the other views fill
    # in). Within each group, similar lengths pad less per batch.
    pending.sort(key=lambda doc: (not is_main_passage(doc.metadata), len(doc.page_content)))
    return pending


def _labels_in(pending: Sequence[Document]) -> int:
    """The number of leading main passages in `pending` (`_differences` puts them first)."""
    return next(
        (n for n, doc in enumerate(pending) if not is_main_passage(doc.metadata)), len(pending)
    )


class _DistinctVectors:
    """Embed each distinct passage text once per sync; keep a vector only while it is needed.

    Alternative labels repeat across skills and languages ("Python", "SQL"), and a label can
    equal another skill's alternative label.
    """

    def __init__(self, embeddings: Embeddings, texts: Sequence[str]) -> None:
        self._embeddings = embeddings
        self._uses = Counter(texts)
        self._kept: dict[str, list[float]] = {}
        self.embedded = 0

    def vectors(self, texts: Sequence[str]) -> list[list[float]]:
        new = [text for text in dict.fromkeys(texts) if text not in self._kept]
        self._kept.update(zip(new, self._embeddings.embed_documents(new), strict=True))
        self.embedded += len(new)
        vectors = []
        for text in texts:
            vectors.append(self._kept[text])
            self._uses[text] -= 1
            if not self._uses[text]:
                del self._kept[text]
        return vectors


def _write(
    collection: Collection,
    pending: Sequence[Document],
    stale: Sequence[str],
    hashes: Mapping[str | None, str],
    embeddings: Embeddings,
    page: int,
    bar: tqdm,
    labels_written: Callable[[], None],
) -> int:
    """Write `pending` and delete `stale`; return the distinct texts embedded.

    `labels_written` is called once the main passages are in, if further passages follow.
    """
    distinct = _DistinctVectors(embeddings, [doc.page_content for doc in pending])
    labels = _labels_in(pending)
    for number, start in enumerate(range(0, len(pending), page), start=1):
        chunk = pending[start : start + page]
        vectors = distinct.vectors([doc.page_content for doc in chunk])
        fault_point(f"embedded:{number}")
        collection.upsert(
            ids=[str(doc.id) for doc in chunk],
            embeddings=vectors,  # type: ignore[arg-type]
            documents=[doc.page_content for doc in chunk],
            metadatas=[{**doc.metadata, HASH_KEY: hashes[doc.id]} for doc in chunk],
        )
        fault_point(f"upserted:{number}")
        bar.update(len(chunk))
        if start < labels <= start + page < len(pending):
            labels_written()
    for number, start in enumerate(range(0, len(stale), page), start=1):
        collection.delete(ids=list(stale[start : start + page]))
        fault_point(f"deleted:{number}")
    fault_point("written")
    return distinct.embedded


def _conflict(name: str, where: str, skills: int) -> StoreConflictError:
    msg = (
        f"another writer kept changing collection {name!r} ({where}) while this sync ran: "
        f"{skills} skills still differ after {MAX_SYNC_PASSES} passes; the store records no "
        "completed sync, so run the same command again once the other writer has finished"
    )
    return StoreConflictError(msg)


def _open_collection(
    chroma_client: ClientAPI,
    collection_name: str,
    fingerprint: dict[str, Any],
    metadata: dict[str, Any],
    views: tuple[str, ...],
    where: str,
) -> Collection:
    """The collection, created with this build's `metadata` if missing, checked if not."""
    # Look before creating: get_or_create_collection would overwrite the stored fingerprint.
    collection = find_collection(chroma_client, collection_name)
    if collection is None:
        collection = chroma_client.create_collection(
            collection_name,
            configuration={"hnsw": HNSW_CONFIGURATION},  # type: ignore[arg-type]
            metadata=metadata,
            embedding_function=None,
        )
    _verify(collection, fingerprint, where)
    _verify_views(collection, read_fingerprint(collection), views, where)
    fault_point("opened")
    return collection


def _built_metadata(fingerprint: Mapping[str, Any], views: tuple[str, ...]) -> dict[str, Any]:
    """What a collection records of how it is built: embeddings, version, HNSW, views."""
    metadata: dict[str, Any] = {
        FINGERPRINT_PREFIX + key: value for key, value in fingerprint.items()
    }
    metadata[FINGERPRINT_PREFIX + "version"] = package_version()
    metadata.update(
        {f"{FINGERPRINT_PREFIX}hnsw_{k}": str(v) for k, v in HNSW_CONFIGURATION.items()}
    )
    metadata[FINGERPRINT_PREFIX + VIEWS_KEY] = ",".join(views)
    return metadata


@dataclass
class _Plan:
    """What a sync must write: the documents' hashes and, unless unchanged, what is stored."""

    hashes: dict[str | None, str]
    digest: str
    total: int | None
    """The collection's count when the last completed sync was given these very documents."""
    stored: dict[str, str] | None
    """Stored id -> content hash; None on the fast path (nothing to write)."""


def _plan(collection: Collection, documents: Sequence[Document], prune: bool) -> _Plan:
    hashes = {doc.id: _content_hash(doc) for doc in documents}
    digest = _digest(hashes)
    total = _count_if_unchanged(collection, digest, len(documents), prune)
    # The fast path trusts the record of the last completed sync and writes no skill; every
    # other run reads what is stored, writes the differences and reads again until the store
    # holds exactly these skills (another writer of a server store can interleave).
    stored = None if total is not None else _stored_hashes(collection)
    fault_point("compared")
    return _Plan(hashes, digest, total, stored)


@dataclass(frozen=True)
class _Applied:
    added: int
    updated: int
    removed: int
    total: int


def _apply(
    chroma_client: ClientAPI,
    collection: Collection,
    documents: Sequence[Document],
    embeddings: Embeddings,
    plan: _Plan,
    *,
    label: str,
    prune: bool,
    page: int,
    show_progress: bool,
    skills: int,
) -> _Applied:
    """Write the differences and read back until the store holds exactly `documents`."""
    collection_name = collection.name

    def labels_written() -> None:
        # Searches find every skill from here on (by its label); record the skill count that
        # sizes their requests, and let the further views fill in.
        current = _fresh_metadata(chroma_client, collection_name)
        if current.get(FINGERPRINT_PREFIX + SKILLS_KEY) != skills:
            collection.modify(metadata={**current, FINGERPRINT_PREFIX + SKILLS_KEY: skills})
        logger.info(
            "collection %r: every skill's label is in and can be searched; the other views "
            "fill in now (if this is interrupted, run the same command again to resume)",
            collection_name,
        )
        fault_point("labels-in")

    stored, hashes = plan.stored, plan.hashes
    added = updated = removed = 0
    total = int(plan.total or 0)
    passes = 0
    with contextlib.ExitStack() as stack:
        bar: tqdm | None = None
        while stored is not None:
            pending = _differences(documents, hashes, stored)
            stale = sorted(set(stored) - set(hashes)) if prune else []
            if passes == 0:
                added = sum(1 for doc in pending if str(doc.id) not in stored)
                updated, removed = len(pending) - added, len(stale)
            if not pending and not stale:
                total = len(stored)
                break
            if passes == MAX_SYNC_PASSES:
                _forget_digest(chroma_client, collection)
                raise _conflict(collection_name, label, len(pending) + len(stale))
            if passes:
                logger.warning(
                    "another writer changed %d skills of collection %r during this sync; "
                    "writing them again",
                    len(pending) + len(stale),
                    collection_name,
                )
            _forget_digest(chroma_client, collection)
            if bar is None:
                bar = stack.enter_context(
                    tqdm(
                        total=len(pending),
                        desc="embedding passages",  # a skill's label, alternative labels, ...
                        unit="passage",
                        disable=not show_progress,
                    )
                )
            else:
                bar.total += len(pending)
            embedded = _write(
                collection, pending, stale, hashes, embeddings, page, bar, labels_written
            )
            logger.debug("%d passages written, %d distinct texts embedded", len(pending), embedded)
            passes += 1
            stored = _stored_hashes(collection)
    return _Applied(added, updated, removed, total)


def _record(
    chroma_client: ClientAPI,
    collection: Collection,
    documents: Sequence[Document],
    metadata: dict[str, Any],
    plan: _Plan,
    *,
    total: int,
    prune: bool,
    skills: int,
) -> None:
    """Record how the collection is built and, after a full sync, that it is complete."""
    templates = _templates(documents)
    if templates:
        metadata[FINGERPRINT_PREFIX + "passage_template"] = templates
    metadata[FINGERPRINT_PREFIX + SKILLS_KEY] = skills
    metadata.update(_hnsw_settings(collection))  # what this collection uses, maybe older
    if plan.stored is not None:  # checked by _apply: the store holds exactly these skills now
        metadata[SYNC_DIGEST_KEY] = plan.digest
        metadata[SYNC_COUNT_KEY] = total
    fault_point("checked")
    current = _fresh_metadata(chroma_client, collection.name)
    languages = {str(d.metadata[LANGUAGE_KEY]) for d in documents if LANGUAGE_KEY in d.metadata}
    if not prune:  # languages added before stay unless pruned
        recorded = str(current.get(FINGERPRINT_PREFIX + LANGUAGES_KEY) or "")
        languages.update(filter(None, recorded.split(",")))
    metadata[FINGERPRINT_PREFIX + LANGUAGES_KEY] = ",".join(sorted(languages))
    if {**current, **metadata} != current:
        collection.modify(metadata={**current, **metadata})
    fault_point("finished")


def _sync(
    chroma_client: ClientAPI,
    documents: Sequence[Document],
    embeddings: Embeddings,
    *,
    where: str,
    label: str,
    collection_name: str,
    prune: bool,
    batch_size: int,
    show_progress: bool,
    views: tuple[str, ...],
    skills: int = 0,
) -> _Applied:
    """Bring the collection to `documents` (passages): open, plan, apply, record.

    `skills` is the number of skills the passages store (recorded for searches), `views` the
    view kinds they hold.
    """
    skills = skills or len(documents)
    fingerprint = embeddings_fingerprint(embeddings)
    metadata = _built_metadata(fingerprint, views)
    collection = _open_collection(
        chroma_client, collection_name, fingerprint, dict(metadata), views, where
    )
    plan = _plan(collection, documents, prune)
    applied = _apply(
        chroma_client,
        collection,
        documents,
        embeddings,
        plan,
        label=label,
        prune=prune,
        page=page_size(min(batch_size, chroma_client.get_max_batch_size())),
        show_progress=show_progress,
        skills=skills,
    )
    _record(
        chroma_client,
        collection,
        documents,
        metadata,
        plan,
        total=applied.total,
        prune=prune,
        skills=skills,
    )
    return applied


def sync_skill_store(
    documents: Sequence[Document],
    embeddings: Embeddings,
    *,
    persist_directory: str | Path | None = None,
    client: ClientAPI | None = None,
    collection_name: str = DEFAULT_COLLECTION,
    prune: bool = False,
    batch_size: int = DEFAULT_WRITE_BATCH,
    show_progress: bool = True,
    views: Sequence[str] | None = None,
    translations: Mapping[str, Sequence[Document]] | None = None,
) -> SyncReport:
    """Create or update a skill store and report what changed; see `build_skill_store`.

    Without `views`, a new collection holds `DEFAULT_VIEWS` and an existing one keeps the
    views it was built with (`sync_views`); `report.views` says which were used.

    Writers of one embedded store folder take turns (a lock file next to the folder); on a
    Chroma server, a sync reads the store back after writing and writes again what another
    writer changed meanwhile, up to `MAX_SYNC_PASSES` times.

    Raises:
        StoreMismatchError: The collection was built with other embeddings or other `views`.
        StoreUnavailableError: The store cannot be reached or written (lost or hung server,
            read-only media, full disk); what was written is kept.
        StoreCorruptError: The store's files are damaged.
        StoreConflictError: Another writer kept changing the collection.
    """
    started = time.perf_counter()
    _check_documents(documents)
    if views is not None:
        views = check_views(views)  # a bad view set fails before the store is touched
    for docs in (translations or {}).values():
        _check_documents(docs)
    check_languages(translations or {})
    if batch_size <= 0:
        msg = f"batch_size must be positive, got {batch_size}"
        raise ValueError(msg)
    _check_location(persist_directory, client)
    where = _where(persist_directory)
    label = _store_label(persist_directory, client)
    folder = _embedded_folder(persist_directory, client)
    lock = store_write_lock(folder) if folder is not None else contextlib.nullcontext()
    with store_faults(label, folder), lock:
        fault_point("locked")
        chroma_client = _client(persist_directory, client, write=True)
        chosen = sync_views(views, find_collection(chroma_client, collection_name))
        passages = view_passages(documents, chosen, translations)
        applied = _sync(
            chroma_client,
            passages,
            embeddings,
            where=where,
            label=label,
            collection_name=collection_name,
            prune=prune,
            batch_size=batch_size,
            show_progress=show_progress,
            views=chosen,
            skills=len(documents),
        )
        report = SyncReport(
            store=_chroma(chroma_client, collection_name, embeddings),
            added=applied.added,
            updated=applied.updated,
            unchanged=len(passages) - applied.added - applied.updated,
            removed=applied.removed,
            total=applied.total,
            collection=collection_name,
            seconds=time.perf_counter() - started,
            views=chosen,
            skills=len(documents),
        )
    logger.info(
        "collection %r: %d added, %d updated, %d unchanged, %d removed in %.1f s",
        collection_name,
        report.added,
        report.updated,
        report.unchanged,
        report.removed,
        report.seconds,
    )
    return report


def build_skill_store(
    documents: Sequence[Document], embeddings: Embeddings, **options: Unpack[SyncOptions]
) -> Chroma:
    """Create or update a cosine-distance Chroma skill store; safe to run again.

    Documents are written under their ids (upsert), so building twice never duplicates;
    documents whose text and metadata are unchanged are not embedded again; ids that are no
    longer in `documents` are deleted only with `prune=True`. Writes go in batches below the
    client's maximum batch size. The collection records a fingerprint of `embeddings` (model,
    dimension, prefixes), the passage template, the views and the package version, and
    refuses other embeddings or other views later.

    A new store holds each skill as several passages (`DEFAULT_VIEWS`: its text, each
    alternative label, `label: description`; see `langchain_course_skills.views`), about 8x
    as many as skills for ESCO, which lifts MRR@10 by about 5 points (docs/views.md);
    `views=("label",)` stores one passage per skill. An existing store keeps its own views
    when `views` is not given (a store built before views: label only); other views than
    its own are refused with `StoreMismatchError`. `translations` add the same views in other
    languages (documents with the same ids, e.g. ESCO's German file). `SkillRetriever` fuses
    a skill's passages and returns each skill once. Adding a language to an existing store
    embeds only its new passages; `prune` also removes every view of a skill that left the
    taxonomy, alternative labels that left a skill, and languages not given.

    Args:
        documents: Skills with unique ids, for example from `load_esco_skills`.
        embeddings: Any LangChain embeddings; `E5Embeddings` for the course-skill model.
        **options: The `SyncOptions`:
        persist_directory: Folder of an embedded Chroma store (created if missing).
        client: A Chroma client instead, for example `chromadb.HttpClient(...)` for a server.
        collection_name: The Chroma collection.
        prune: Delete stored skills whose ids are not in `documents`.
        batch_size: Skills embedded and written per step.
        show_progress: Show a progress bar while embedding.
        views: View kinds of each skill: "label" (its text from the template, always),
            "alt" (each alternative label), "description" (`label: description`); None
            (default): the collection's own views, for a new one `DEFAULT_VIEWS`
            (all three). A skill without alternative labels or description gets just its
            label passage.
        translations: Language code -> the same skills in that language, e.g.
            `{"de": load_esco_skills("skills_de_labels.csv")}`.

    Returns:
        The store, a `langchain_chroma.Chroma`.

    Example:
        >>> store = build_skill_store(load_esco_skills("skills_de.csv"), E5Embeddings(),
        ...                           persist_directory="skills-db")
        >>> read_store_fingerprint(persist_directory="skills-db")["skills"]
        13896
    """
    return sync_skill_store(documents, embeddings, **options).store
