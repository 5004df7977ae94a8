"""Build, update and open the persistent Chroma skill store.

The store is a `langchain_chroma.Chroma` over a collection that uses cosine distance and
records a fingerprint of the embeddings it was built with. Building is an idempotent sync:
documents are written under their own ids, unchanged ones are not embedded again, and ids that
left the taxonomy are removed only on request.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from langchain_chroma import Chroma
from langchain_core.documents import Document
from tqdm.auto import tqdm
from typing_extensions import Unpack

from langchain_course_skills._faults import fault_point, page_size
from langchain_course_skills._locks import store_write_lock
from langchain_course_skills._protocols import FingerprintedEmbeddings
from langchain_course_skills._storage import open_embedded_client, store_faults
from langchain_course_skills._version import package_version
from langchain_course_skills.errors import (
    StoreConflictError,
    StoreMismatchError,
    StoreNotFoundError,
    TaxonomyError,
    parameter,
)
from langchain_course_skills.views import (
    DEFAULT_VIEWS,
    SINGLE_VIEW,
    check_languages,
    check_views,
    is_main_passage,
    passage_view,
    view_passages,
)
from langchain_course_skills.vocabulary import DEFAULT_COLLECTION, LANGUAGE_KEY, TEMPLATE_KEY

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from langchain_core.embeddings import Embeddings

logger = logging.getLogger(__name__)

# Cosine distance, and HNSW settings that make the index agree with exact search: top-30
# recall 0.9995 against brute force on the full ESCO store with all-MiniLM-L6-v2 (ef_search 128
# gave 0.998; 16 neighbours 0.9988). The wide search costs a few milliseconds a query, little
# beside embedding the course text. See benchmarks/run.py.
HNSW_CONFIGURATION = {
    "space": "cosine",
    "ef_construction": 200,
    "ef_search": 512,
    "max_neighbors": 32,
}
_HNSW_RECORDED = ("space", "ef_construction", "ef_search", "max_neighbors")
APP_NAME = "course-skills"  # the per-user data folder's name
HASH_KEY = "content_hash"  # metadata key: hash of text + metadata, to skip unchanged skills
FINGERPRINT_PREFIX = "course_skills:"  # collection metadata keys of the fingerprint
DEFAULT_WRITE_BATCH = 1024  # skills embedded and written per step (kept under the client limit)
_READ_PAGE = 5000  # skills read back per request (under Chroma's local limit of 5,461)
_QUERY_PAGE = 512  # query vectors per search request (a few MB of JSON to a server)
# Results (query vectors x n_results) per search request. Chroma reads the matched records
# with one SQL statement per request, one variable per result, and SQLite allows 32,766
# (measured with chromadb 1.5: 10 x 3,276 results pass, 10 x 3,277 fail), locally and on a
# server; the rest is left for the filter's variables.
MAX_RESULTS = 30_000
_MATCHED_KEYS = ("embeddings", "model", "dimension", "query_prefix", "passage_prefix")
# Collection metadata of the last completed sync: a digest of every (id, content hash) it was
# given and the count it left. Equal digest and count mean nothing changed since, so a re-run
# need not read every stored hash back (most of its time on a large taxonomy).
SYNC_DIGEST_KEY = "course_skills_sync:digest"
SYNC_COUNT_KEY = "course_skills_sync:count"
# Fingerprint entries of the views (views.py): the view kinds, comma-separated ("label" where
# missing: stores built before views), the languages of translated views, and the skills.
VIEWS_KEY = "views"
LANGUAGES_KEY = "languages"
SKILLS_KEY = "skills"
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


def embeddings_fingerprint(embeddings: Embeddings) -> dict[str, str | int]:
    """Describe `embeddings` as far as can be known: class, model, dimension, prefixes.

    Embeddings that have a `fingerprint()` (`FingerprintedEmbeddings`) describe themselves,
    with the model's Hub revision where one is known.
    """
    cls = type(embeddings)
    kind: dict[str, str | int] = {"embeddings": f"{cls.__module__}.{cls.__qualname__}"}
    if isinstance(embeddings, FingerprintedEmbeddings):
        return {**kind, **embeddings.fingerprint()}
    names = (getattr(embeddings, attr, None) for attr in ("model_name", "model", "model_id"))
    return {
        **kind,
        "model": next((name for name in names if isinstance(name, str)), ""),
        "dimension": len(embeddings.embed_query("dimension probe")),
        "query_prefix": "",
        "passage_prefix": "",
    }


def read_fingerprint(collection: Collection) -> dict[str, Any]:
    """Return the fingerprint recorded in a collection's metadata (empty if none)."""
    metadata = collection.metadata or {}
    return {
        key[len(FINGERPRINT_PREFIX) :]: value
        for key, value in metadata.items()
        if key.startswith(FINGERPRINT_PREFIX)
    }


def collection_space(collection: Collection) -> str:
    """Return the distance of a collection's index ("cosine", "l2" or "ip")."""
    configuration = collection.configuration_json or {}  # raw JSON: .configuration warns
    for index in ("hnsw", "spann"):
        settings = configuration.get(index) or {}
        if settings.get("space"):
            return str(settings["space"])
    return str((collection.metadata or {}).get("hnsw:space", "l2"))


def user_store_dir(name: str) -> Path:
    """Return a store folder `name` in the per-user data folder, not the working directory.

    On Linux `~/.local/share/course-skills/NAME` (or under `$XDG_DATA_HOME`); the demo and the
    examples keep their stores there.
    """
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME)) / name


def _check_location(persist_directory: str | Path | None, client: ClientAPI | None) -> None:
    if (persist_directory is None) == (client is None):
        msg = "pass either persist_directory (an embedded store folder) or client, not both"
        raise ValueError(msg)


def _client(
    persist_directory: str | Path | None, client: ClientAPI | None, *, write: bool
) -> ClientAPI:
    _check_location(persist_directory, client)
    if client is not None:
        return client
    return open_embedded_client(str(persist_directory), write=write)


def _store_label(persist_directory: str | Path | None, client: ClientAPI | None) -> str:
    """How fault messages name the store: `--db DIR` or the server's URL."""
    if persist_directory is not None or client is None:
        return parameter("persist_directory", repr(str(persist_directory)))
    settings = client.get_settings()
    if settings.chroma_server_host:
        scheme = "https" if settings.chroma_server_ssl_enabled else "http"
        return f"{scheme}://{settings.chroma_server_host}:{settings.chroma_server_http_port}"
    if settings.is_persistent and settings.persist_directory:
        return parameter("persist_directory", repr(str(settings.persist_directory)))
    return "an in-memory Chroma store"


def _embedded_folder(persist_directory: str | Path | None, client: ClientAPI | None) -> Path | None:
    """The folder of an embedded store (to lock while writing); None for a server or memory."""
    if persist_directory is not None:
        return Path(str(persist_directory)).expanduser().resolve()
    settings = client.get_settings() if client is not None else None
    if settings and not settings.chroma_server_host and settings.is_persistent:
        return Path(settings.persist_directory).expanduser().resolve()
    return None


def skill_collection(store: Chroma) -> Collection:
    """Return the Chroma collection behind a skill store (count, get, raw queries).

    langchain-chroma keeps it private; this is the one place that reaches for it, and a test
    fails if langchain-chroma ever renames it.

    Example:
        >>> skill_collection(open_skill_store(embeddings, persist_directory="skills-db")).count()
        113086
    """
    return store._collection


def find_collection(client: ClientAPI, name: str) -> Collection | None:
    """Return the collection `name`, or None if the store has no such collection."""
    if name not in {c.name for c in client.list_collections()}:
        return None
    return client.get_collection(name, embedding_function=None)


def _where(persist_directory: str | Path | None) -> str:
    if persist_directory is None:
        return "the same client"
    return parameter("persist_directory", repr(str(persist_directory)))


def stored_views(fingerprint: Mapping[str, Any]) -> tuple[str, ...]:
    """The view kinds a store's fingerprint records (a store built before views: label only)."""
    return check_views(str(fingerprint.get(VIEWS_KEY) or ",".join(SINGLE_VIEW)))


def sync_views(views: Sequence[str] | None, collection: Collection | None) -> tuple[str, ...]:
    """The views a sync stores: `views` if given, else the collection's own, else the default.

    A collection keeps its own views when a sync names none, so re-running a build on a store
    made with other views (or before views: label only) neither fails nor embeds anything.

    Args:
        views: The view kinds asked for, or None.
        collection: The collection the sync writes to, or None if it does not exist yet.

    Returns:
        `views` in canonical order; else the views recorded in the collection's fingerprint (a
        collection without one, e.g. made by hand, counts as new); else `DEFAULT_VIEWS`.
    """
    if views is not None:
        return check_views(views)
    stored = read_fingerprint(collection) if collection is not None else {}
    return stored_views(stored) if stored else DEFAULT_VIEWS


def _verify_views(
    collection: Collection, stored: Mapping[str, Any], views: tuple[str, ...], where: str
) -> None:
    if not stored or stored_views(stored) == views:
        return
    have, want = ",".join(stored_views(stored)), ",".join(views)
    msg = (
        f"collection {collection.name!r} holds the views {have} of each skill, but you asked "
        f"for {want}; pass {parameter('views', repr(have))}, or build another collection with "
        f"these views ({parameter('build_skill_store')} with {where}, "
        f"{parameter('views', repr(want))} and {parameter('collection_name', repr('NEW_NAME'))})"
    )
    raise StoreMismatchError(msg)


def _verify(collection: Collection, fingerprint: dict[str, Any], where: str) -> None:
    name = collection.name
    space = collection_space(collection)
    if space != "cosine":
        msg = (
            f"collection {name!r} uses {space} distance, but skill similarity needs cosine; "
            f"build a new store ({parameter('build_skill_store')} with {where} and "
            f"{parameter('collection_name', repr('NEW_NAME'))})"
        )
        raise StoreMismatchError(msg)
    stored = read_fingerprint(collection)
    if not stored:
        return  # a collection created by hand or by Chroma.add_documents; nothing to compare
    differences = [
        f"{key} {stored.get(key)!r} vs {fingerprint[key]!r}"
        for key in _MATCHED_KEYS
        if str(stored.get(key)) != str(fingerprint[key])
    ]
    revisions = (stored.get("revision"), fingerprint.get("revision"))
    if all(revisions) and revisions[0] != revisions[1]:  # checked where both sides know it
        differences.append(f"revision {revisions[0]!r} vs {revisions[1]!r}")
    if differences:
        msg = (
            f"collection {name!r} was built with model {stored.get('model')!r} "
            f"({stored.get('dimension')}-d, {stored.get('embeddings')}) but you opened it with "
            f"model {fingerprint['model']!r} ({fingerprint['dimension']}-d, "
            f"{fingerprint['embeddings']}); stored vs yours: {'; '.join(differences)}. "
            f"Pass embeddings for model {stored.get('model')!r}, or build another collection "
            f"for this model ({parameter('build_skill_store')} with {where} and "
            f"{parameter('collection_name', repr('NEW_NAME'))})."
        )
        raise StoreMismatchError(msg)


def cosine_similarity(distance: float) -> float:
    """The cosine similarity of a cosine distance, as Chroma returns it for a skill store.

    Every similarity the package reports comes through here; a store opens only if its
    collection uses cosine distance (`collection_space`), which makes this exact.
    """
    return 1.0 - distance


def _chroma(client: ClientAPI, name: str, embeddings: Embeddings) -> Chroma:
    # An explicit relevance function: Chroma would otherwise read the collection configuration,
    # which makes chromadb warn about the (legacy) embedding-function entry on every search.
    return Chroma(
        client=client,
        collection_name=name,
        embedding_function=embeddings,
        relevance_score_fn=cosine_similarity,
    )


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


def iter_stored(
    collection: Collection, *, with_documents: bool = False
) -> Iterator[tuple[str, Mapping[str, Any], str | None]]:
    """Yield (id, metadata, text or None) for every stored skill, a page at a time."""
    include = ["metadatas", "documents"] if with_documents else ["metadatas"]
    size = page_size(_READ_PAGE)
    offset = 0
    while True:
        result = collection.get(include=include, limit=size, offset=offset)  # type: ignore[arg-type]
        fault_point(f"read:{offset // size + 1}")
        texts = result["documents"] if with_documents else None
        for index, doc_id in enumerate(result["ids"]):
            metadata = (result["metadatas"] or [])[index] or {}
            yield doc_id, metadata, texts[index] if texts else None
        if len(result["ids"]) < size:
            return
        offset += size


def taxonomy_counts(collection: Collection) -> Counter[str]:
    """Count a collection's skills per `metadata["taxonomy"]` (a skill's further views aside)."""
    return Counter(
        str(meta.get("taxonomy", "?"))
        for _, meta, _ in iter_stored(collection)
        if is_main_passage(meta)
    )


def check_taxonomies(collection: Collection, names: Sequence[str]) -> None:
    """Raise `TaxonomyError` if the store has no skill of one of `names` (one request each).

    Taxonomy names are matched exactly ("ESCO", not "esco"): a filter with an unknown name
    would silently find nothing.
    """
    missing = [
        name
        for name in names
        if not collection.get(where={"taxonomy": name}, limit=1, include=[])["ids"]
    ]
    if missing:
        stored = sorted(taxonomy_counts(collection))
        msg = (
            f"the store has no skills of taxonomy {missing} (names are case-sensitive); it "
            f"has {stored}: filter by one of those"
        )
        raise TaxonomyError(msg)


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
) -> tuple[int, int, int, int]:
    """Bring the collection to `documents` (passages); return those added, updated, removed, total.

    `skills` is the number of skills the passages store (recorded for searches), `views` the
    view kinds they hold.
    """
    fingerprint = embeddings_fingerprint(embeddings)
    metadata: dict[str, Any] = {
        FINGERPRINT_PREFIX + key: value for key, value in fingerprint.items()
    }
    metadata[FINGERPRINT_PREFIX + "version"] = package_version()
    metadata.update(
        {f"{FINGERPRINT_PREFIX}hnsw_{k}": str(v) for k, v in HNSW_CONFIGURATION.items()}
    )
    metadata[FINGERPRINT_PREFIX + VIEWS_KEY] = ",".join(views)
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

    page = page_size(min(batch_size, chroma_client.get_max_batch_size()))
    hashes = {doc.id: _content_hash(doc) for doc in documents}
    digest = _digest(hashes)
    total = _count_if_unchanged(collection, digest, len(documents), prune)
    # The fast path trusts the record of the last completed sync and writes no skill; every
    # other run reads what is stored, writes the differences and reads again until the store
    # holds exactly these skills (another writer of a server store can interleave).
    stored = None if total is not None else _stored_hashes(collection)
    fault_point("compared")

    def labels_written() -> None:
        # Searches find every skill from here on (by its label); record the skill count that
        # sizes their requests, and let the further views fill in.
        current = _fresh_metadata(chroma_client, collection_name)
        if current.get(FINGERPRINT_PREFIX + SKILLS_KEY) != (skills or len(documents)):
            collection.modify(
                metadata={**current, FINGERPRINT_PREFIX + SKILLS_KEY: skills or len(documents)}
            )
        logger.info(
            "collection %r: every skill's label is in and can be searched; the other views "
            "fill in now (if this is interrupted, run the same command again to resume)",
            collection_name,
        )
        fault_point("labels-in")

    added = updated = removed = 0
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

    templates = _templates(documents)
    if templates:
        metadata[FINGERPRINT_PREFIX + "passage_template"] = templates
    metadata[FINGERPRINT_PREFIX + SKILLS_KEY] = skills or len(documents)
    metadata.update(_hnsw_settings(collection))  # what this collection uses, maybe older
    if stored is not None:  # checked above: the store holds exactly these skills now
        metadata[SYNC_DIGEST_KEY] = digest
        metadata[SYNC_COUNT_KEY] = total
    fault_point("checked")
    current = _fresh_metadata(chroma_client, collection_name)
    languages = {str(d.metadata[LANGUAGE_KEY]) for d in documents if LANGUAGE_KEY in d.metadata}
    if not prune:  # languages added before stay unless pruned
        recorded = str(current.get(FINGERPRINT_PREFIX + LANGUAGES_KEY) or "")
        languages.update(filter(None, recorded.split(",")))
    metadata[FINGERPRINT_PREFIX + LANGUAGES_KEY] = ",".join(sorted(languages))
    if {**current, **metadata} != current:
        collection.modify(metadata={**current, **metadata})
    fault_point("finished")
    return added, updated, removed, int(total or 0)


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
        added, updated, removed, total = _sync(
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
            added=added,
            updated=updated,
            unchanged=len(passages) - added - updated,
            removed=removed,
            total=total,
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


def _existing_collection(
    persist_directory: str | Path | None, client: ClientAPI | None, collection_name: str
) -> tuple[ClientAPI, Collection]:
    """Return the client and collection of an existing store; creates nothing."""
    if persist_directory is not None and not Path(str(persist_directory)).expanduser().is_dir():
        msg = (
            f"no skill store at {str(persist_directory)!r}; build it first with "
            f"{parameter('build_skill_store')}"
        )
        raise StoreNotFoundError(msg)
    with store_faults(
        _store_label(persist_directory, client), _embedded_folder(persist_directory, client)
    ):
        chroma_client = _client(persist_directory, client, write=False)
        collection = find_collection(chroma_client, collection_name)
        if collection is None:
            where = _where(persist_directory)
            names = [c.name for c in chroma_client.list_collections()]
            msg = (
                f"the store ({where}) has no collection {collection_name!r} (it has {names}); "
                f"build it with {parameter('build_skill_store')} and "
                f"{parameter('collection_name', repr(collection_name))}"
            )
            raise StoreNotFoundError(msg)
    return chroma_client, collection


def read_store_fingerprint(
    *,
    persist_directory: str | Path | None = None,
    client: ClientAPI | None = None,
    collection_name: str = DEFAULT_COLLECTION,
) -> dict[str, Any]:
    """Return what a store recorded about the embeddings that built it, without loading a model.

    Use it to open a store with the model it was built with:

    Example:
        >>> model = read_store_fingerprint(persist_directory="skills-db")["model"]
        >>> store = open_skill_store(E5Embeddings(model_name=model), persist_directory="skills-db")

    Raises:
        StoreNotFoundError: The folder or the collection does not exist.
    """
    _, collection = _existing_collection(persist_directory, client, collection_name)
    return read_fingerprint(collection)


def open_skill_store(
    embeddings: Embeddings,
    *,
    persist_directory: str | Path | None = None,
    client: ClientAPI | None = None,
    collection_name: str = DEFAULT_COLLECTION,
    views: Sequence[str] | None = None,
) -> Chroma:
    """Open an existing skill store, checking that `embeddings` match the ones it was built with.

    Args:
        embeddings: The embeddings the store was built with.
        persist_directory: Folder of an embedded store.
        client: A Chroma client instead.
        collection_name: The collection.
        views: The view kinds you expect the store to hold; None accepts the store's own.

    Raises:
        StoreNotFoundError: The folder or the collection does not exist.
        StoreMismatchError: The store was built with other embeddings, other views or without
            cosine distance.
    """
    chroma_client, collection = _existing_collection(persist_directory, client, collection_name)
    where = _where(persist_directory)
    _verify(collection, embeddings_fingerprint(embeddings), where)
    if views is not None:
        _verify_views(collection, read_fingerprint(collection), check_views(views), where)
    with store_faults(_store_label(persist_directory, client)):
        return _chroma(chroma_client, collection_name, embeddings)


def search_vectors(
    store: Chroma, vectors: Sequence[Sequence[float]], k: int, where: dict[str, Any] | None
) -> list[list[tuple[Document, float]]]:
    """Return, for each vector, its `k` nearest skills and their cosine distance.

    Gives per vector what `store.similarity_search_by_vector_with_relevance_scores` gives,
    which asks Chroma once per vector; Chroma's collection answers many vectors at once, in
    requests of at most MAX_RESULTS results (`k` is capped at that).
    """
    results: list[list[tuple[Document, float]]] = []
    collection = skill_collection(store)  # langchain-chroma searches one vector per call
    k = min(k, MAX_RESULTS)
    per_request = max(1, min(_QUERY_PAGE, MAX_RESULTS // k))
    for start in range(0, len(vectors), per_request):
        page: list[Sequence[float]] = [list(v) for v in vectors[start : start + per_request]]
        with store_faults(_store_label(None, store._client)):
            found = collection.query(
                query_embeddings=page,
                n_results=k,
                where=where,
                include=["documents", "metadatas", "distances"],
            )
        for ids, texts, metadatas, distances in zip(
            found["ids"],
            found["documents"] or [],
            found["metadatas"] or [],
            found["distances"] or [],
        ):
            results.append(
                [
                    (Document(page_content=text, metadata=dict(meta or {}), id=doc_id), distance)
                    for doc_id, text, meta, distance in zip(ids, texts, metadatas, distances)
                    if text is not None
                ]
            )
    return results


@dataclass(frozen=True)
class StoreLayout:
    """How a store holds its skills: the passages a search must fuse per skill."""

    views: tuple[str, ...]
    """The view kinds of each skill."""
    languages: tuple[str, ...]
    """Languages of translated views."""
    passages_per_skill: float
    """Stored passages per skill (1.0 for a store of one passage per skill)."""

    @property
    def single(self) -> bool:
        """Whether each skill is one passage (no fusion needed).

        So is a store with several view kinds whose skills have none but their label (GRETA,
        a table without alternative labels or descriptions): its results stay as before views.
        """
        return (self.views == SINGLE_VIEW and not self.languages) or self.passages_per_skill <= 1


def store_layout(store: Chroma) -> StoreLayout:
    """Read a store's views and languages from its fingerprint (no request to the store)."""
    collection = skill_collection(store)
    metadata = collection.metadata or {}
    stored = read_fingerprint(collection)
    languages = tuple(filter(None, str(stored.get(LANGUAGES_KEY) or "").split(",")))
    views = stored_views(stored)
    skills = int(stored.get(SKILLS_KEY) or 0)
    passages = int(metadata.get(SYNC_COUNT_KEY) or 0)
    if views != SINGLE_VIEW or languages:
        passages = passages or collection.count()
    ratio = passages / skills if skills and passages > skills else 1.0
    return StoreLayout(views=views, languages=languages, passages_per_skill=ratio)


def describe_collection(collection: Collection) -> dict[str, Any]:
    """Describe a skill store as `course-skills info` and the service's `/v1/info` show it.

    Returns:
        `collection`, `count` (the passages Chroma holds), `skills` (fewer in a store of
        several views per skill), `distance`, `taxonomies` (skills per taxonomy),
        `fingerprint` (how it was built: `read_fingerprint`) and, for a store of several
        views or languages, `passages` (per view, as `view_counts`). One pass over the
        stored metadata.
    """
    taxonomies: Counter[str] = Counter()
    views: Counter[str] = Counter()
    for _, metadata, _ in iter_stored(collection):
        views[passage_view(metadata)] += 1
        if is_main_passage(metadata):
            taxonomies[str(metadata.get("taxonomy", "?"))] += 1
    fingerprint = read_fingerprint(collection)
    info: dict[str, Any] = {
        "collection": collection.name,
        "count": collection.count(),
        "skills": sum(taxonomies.values()),
        "distance": collection_space(collection),
        "taxonomies": dict(sorted(taxonomies.items())),
        "fingerprint": fingerprint,
    }
    if stored_views(fingerprint) != SINGLE_VIEW or fingerprint.get(LANGUAGES_KEY):
        info["passages"] = dict(sorted(views.items()))
    return info


def view_counts(collection: Collection) -> dict[str, int]:
    """Count a collection's passages per view ("label", "alt", "de:label", ...)."""
    counts: dict[str, int] = {}
    for _, metadata, _ in iter_stored(collection):
        view = passage_view(metadata)
        counts[view] = counts.get(view, 0) + 1
    return dict(sorted(counts.items()))
