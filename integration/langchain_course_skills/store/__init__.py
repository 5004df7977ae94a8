"""The persistent Chroma skill store: build, update, open, search and inspect it.

The store is a `langchain_chroma.Chroma` over a collection that uses cosine distance and
records a fingerprint of the embeddings it was built with. Building is an idempotent sync:
documents are written under their own ids, unchanged ones are not embedded again, and ids that
left the taxonomy are removed only on request.

- `fingerprint`: how a store was built and whether embeddings and views fit it;
- `location`: folders, clients and collections; `open_skill_store`;
- `sync`: `build_skill_store` and `sync_skill_store`;
- `search`: `search_vectors`, requests sized by what they return, and `skill_vectors`;
- `inspect`: the records, taxonomy and view counts, layout and description;
- `_storage`, `_chroma_http`, `_locks`, `_faults`: storage faults explained, the server client,
  the write lock of an embedded folder, and the fault points the tests use.

The names are imported on first use, so that importing the package (or one of its private
modules) does not load chromadb before it is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from langchain_course_skills._lazy import lazy_exports

if TYPE_CHECKING:
    from langchain_course_skills.store.fingerprint import (
        FINGERPRINT_PREFIX,
        HASH_KEY,
        HNSW_CONFIGURATION,
        LANGUAGES_KEY,
        SKILLS_KEY,
        SYNC_COUNT_KEY,
        SYNC_DIGEST_KEY,
        VIEWS_KEY,
        collection_space,
        cosine_similarity,
        embeddings_fingerprint,
        read_fingerprint,
        stored_views,
        sync_views,
    )
    from langchain_course_skills.store.inspect import (
        StoreLayout,
        check_taxonomies,
        describe_collection,
        iter_stored,
        store_layout,
        taxonomy_counts,
        view_counts,
    )
    from langchain_course_skills.store.location import (
        APP_NAME,
        find_collection,
        open_skill_store,
        read_store_fingerprint,
        skill_collection,
        store_client,
        user_store_dir,
    )
    from langchain_course_skills.store.search import (
        MAX_RESULTS,
        search_vectors,
        skill_vectors,
    )
    from langchain_course_skills.store.sync import (
        DEFAULT_WRITE_BATCH,
        MAX_SYNC_PASSES,
        SyncOptions,
        SyncReport,
        build_skill_store,
        sync_skill_store,
    )

_MODULES = {
    "APP_NAME": "location",
    "DEFAULT_WRITE_BATCH": "sync",
    "FINGERPRINT_PREFIX": "fingerprint",
    "HASH_KEY": "fingerprint",
    "HNSW_CONFIGURATION": "fingerprint",
    "LANGUAGES_KEY": "fingerprint",
    "MAX_RESULTS": "search",
    "MAX_SYNC_PASSES": "sync",
    "SKILLS_KEY": "fingerprint",
    "SYNC_COUNT_KEY": "fingerprint",
    "SYNC_DIGEST_KEY": "fingerprint",
    "StoreLayout": "inspect",
    "SyncOptions": "sync",
    "SyncReport": "sync",
    "VIEWS_KEY": "fingerprint",
    "build_skill_store": "sync",
    "check_taxonomies": "inspect",
    "collection_space": "fingerprint",
    "cosine_similarity": "fingerprint",
    "describe_collection": "inspect",
    "embeddings_fingerprint": "fingerprint",
    "find_collection": "location",
    "iter_stored": "inspect",
    "open_skill_store": "location",
    "read_fingerprint": "fingerprint",
    "read_store_fingerprint": "location",
    "search_vectors": "search",
    "skill_vectors": "search",
    "skill_collection": "location",
    "store_client": "location",
    "store_layout": "inspect",
    "stored_views": "fingerprint",
    "sync_skill_store": "sync",
    "sync_views": "fingerprint",
    "taxonomy_counts": "inspect",
    "user_store_dir": "location",
    "view_counts": "inspect",
}

__all__ = [
    "APP_NAME",
    "DEFAULT_WRITE_BATCH",
    "FINGERPRINT_PREFIX",
    "HASH_KEY",
    "HNSW_CONFIGURATION",
    "LANGUAGES_KEY",
    "MAX_RESULTS",
    "MAX_SYNC_PASSES",
    "SKILLS_KEY",
    "SYNC_COUNT_KEY",
    "SYNC_DIGEST_KEY",
    "StoreLayout",
    "SyncOptions",
    "SyncReport",
    "VIEWS_KEY",
    "build_skill_store",
    "check_taxonomies",
    "collection_space",
    "cosine_similarity",
    "describe_collection",
    "embeddings_fingerprint",
    "find_collection",
    "iter_stored",
    "open_skill_store",
    "read_fingerprint",
    "read_store_fingerprint",
    "search_vectors",
    "skill_vectors",
    "skill_collection",
    "store_client",
    "store_layout",
    "stored_views",
    "sync_skill_store",
    "sync_views",
    "taxonomy_counts",
    "user_store_dir",
    "view_counts",
]

__getattr__, __dir__ = lazy_exports(__name__, _MODULES)
