"""Map course descriptions to taxonomy skills: embeddings, skill store, retrieval, reranking."""

from langchain_course_skills.compressors import SkillReranker
from langchain_course_skills.courses import read_courses
from langchain_course_skills.cross_encoders import SkillCrossEncoder
from langchain_course_skills.embeddings import E5Embeddings
from langchain_course_skills.errors import (
    CourseInputError,
    CourseSkillsError,
    MapOutputError,
    ModelLoadError,
    StoreMismatchError,
    StoreNotFoundError,
    TaxonomyError,
)
from langchain_course_skills.loaders import load_esco_skills, load_greta, load_skill_table
from langchain_course_skills.mapping import MapReport, RetrieverSpec, map_courses
from langchain_course_skills.retrievers import SkillRetriever
from langchain_course_skills.store import (
    SyncReport,
    build_skill_store,
    open_skill_store,
    sync_skill_store,
)
from langchain_course_skills.tools import create_skill_search_tool

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
    "StoreMismatchError",
    "StoreNotFoundError",
    "SyncReport",
    "TaxonomyError",
    "build_skill_store",
    "create_skill_search_tool",
    "load_esco_skills",
    "load_greta",
    "load_skill_table",
    "map_courses",
    "open_skill_store",
    "read_courses",
    "sync_skill_store",
]
