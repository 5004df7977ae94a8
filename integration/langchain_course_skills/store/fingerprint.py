"""How a store was built and whether it fits: the fingerprint, HNSW settings, views."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_course_skills._protocols import FingerprintedEmbeddings
from langchain_course_skills.errors import (
    StoreMismatchError,
    parameter,
)
from langchain_course_skills.views import (
    DEFAULT_VIEWS,
    SINGLE_VIEW,
    check_views,
)

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection
    from langchain_core.embeddings import Embeddings

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
HASH_KEY = "content_hash"  # metadata key: hash of text + metadata, to skip unchanged skills
FINGERPRINT_PREFIX = "course_skills:"  # collection metadata keys of the fingerprint
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
