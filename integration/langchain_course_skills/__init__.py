"""Map course descriptions to taxonomy skills: embeddings, skill store, retrieval, reranking."""

from langchain_course_skills.compressors import SkillReranker
from langchain_course_skills.cross_encoders import SkillCrossEncoder
from langchain_course_skills.embeddings import E5Embeddings
from langchain_course_skills.errors import (
    CourseSkillsError,
    ModelLoadError,
    StoreMismatchError,
    StoreNotFoundError,
    TaxonomyError,
)
from langchain_course_skills.loaders import load_esco_skills, load_greta, load_skill_table
from langchain_course_skills.retrievers import SkillRetriever
from langchain_course_skills.store import (
    SyncReport,
    build_skill_store,
    open_skill_store,
    sync_skill_store,
)
from langchain_course_skills.tools import create_skill_search_tool

__all__ = [
    "CourseSkillsError",
    "E5Embeddings",
    "ModelLoadError",
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
    "open_skill_store",
    "sync_skill_store",
]
