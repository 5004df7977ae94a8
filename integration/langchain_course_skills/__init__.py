"""Map course descriptions to taxonomy skills: embeddings, skill store, retrieval, reranking.

The names below are imported on first use, so that `import langchain_course_skills` (and the
command line's `--help`) does not load torch or chromadb before they are needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from langchain_course_skills._lazy import lazy_exports

if TYPE_CHECKING:
    from langchain_course_skills.compressors import SkillReranker
    from langchain_course_skills.courses import read_courses
    from langchain_course_skills.cross_encoders import SkillCrossEncoder
    from langchain_course_skills.embeddings import E5Embeddings
    from langchain_course_skills.errors import (
        CourseInputError,
        CourseSkillsError,
        MapOutputError,
        ModelLoadError,
        StoreConflictError,
        StoreCorruptError,
        StoreMismatchError,
        StoreNotFoundError,
        StoreRequestError,
        StoreUnavailableError,
        TaxonomyError,
    )
    from langchain_course_skills.loaders import (
        load_esco_skills,
        load_greta,
        load_skill_table,
        load_taxonomy,
    )
    from langchain_course_skills.mapping import MapReport, map_courses
    from langchain_course_skills.retrievers import SkillRetriever
    from langchain_course_skills.spec import RetrieverSpec
    from langchain_course_skills.store import (
        SyncReport,
        build_skill_store,
        open_skill_store,
        read_store_fingerprint,
        skill_collection,
        sync_skill_store,
    )
    from langchain_course_skills.tools import create_skill_search_tool

_MODULES = {
    "CourseInputError": "errors",
    "CourseSkillsError": "errors",
    "E5Embeddings": "embeddings",
    "MapOutputError": "errors",
    "MapReport": "mapping",
    "ModelLoadError": "errors",
    "RetrieverSpec": "spec",
    "SkillCrossEncoder": "cross_encoders",
    "SkillReranker": "compressors",
    "SkillRetriever": "retrievers",
    "StoreConflictError": "errors",
    "StoreCorruptError": "errors",
    "StoreMismatchError": "errors",
    "StoreNotFoundError": "errors",
    "StoreRequestError": "errors",
    "StoreUnavailableError": "errors",
    "SyncReport": "store",
    "TaxonomyError": "errors",
    "build_skill_store": "store",
    "create_skill_search_tool": "tools",
    "load_esco_skills": "loaders",
    "load_greta": "loaders",
    "load_skill_table": "loaders",
    "load_taxonomy": "loaders",
    "map_courses": "mapping",
    "open_skill_store": "store",
    "read_courses": "courses",
    "read_store_fingerprint": "store",
    "skill_collection": "store",
    "sync_skill_store": "store",
}

__all__ = [
    "CourseInputError",
    "CourseSkillsError",
    "E5Embeddings",
    "MapOutputError",
    "MapReport",
    "ModelLoadError",
    "RetrieverSpec",
    "SkillCrossEncoder",
    "SkillReranker",
    "SkillRetriever",
    "StoreConflictError",
    "StoreCorruptError",
    "StoreMismatchError",
    "StoreNotFoundError",
    "StoreRequestError",
    "StoreUnavailableError",
    "SyncReport",
    "TaxonomyError",
    "build_skill_store",
    "create_skill_search_tool",
    "load_esco_skills",
    "load_greta",
    "load_skill_table",
    "load_taxonomy",
    "map_courses",
    "open_skill_store",
    "read_courses",
    "read_store_fingerprint",
    "skill_collection",
    "sync_skill_store",
]


__getattr__, __dir__ = lazy_exports(__name__, _MODULES)
