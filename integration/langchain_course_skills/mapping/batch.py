"""What both engines of `map_courses` share: how one batch of courses becomes output records.

`mapping.run` (the local engine and the driver) and `mapping.distributed` (the Ray actors) both
build on this module, so neither imports the other at module level.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from langchain_course_skills.courses import Course
from langchain_course_skills.errors import (
    CourseSkillsError,
    ModelLoadError,
    StoreCorruptError,
    StoreUnavailableError,
)
from langchain_course_skills.retrievers import SkillRetriever
from langchain_course_skills.vocabulary import skill_hits

if TYPE_CHECKING:
    from langchain_core.documents import Document

logger = logging.getLogger(__name__)

ERROR_KEY = "error"  # a record of a course that could not be mapped: why, instead of skills


def course_record(course: Course, documents: list[Document]) -> dict[str, Any]:
    """Return the output record of one course: id, text hash and ranked skills."""
    skills = []
    for hit in skill_hits(documents):
        record = hit.to_record()
        del record["text"]  # the skill's text: the label, or more with a longer passage template
        skills.append(record)
    return {"id": course.id, "text_hash": course.text_hash, "skills": skills}


def _batches(courses: Sequence[Course], size: int) -> Iterator[Sequence[Course]]:
    for start in range(0, len(courses), size):
        yield courses[start : start + size]


def _fatal(exc: Exception) -> bool:
    """Whether `exc` stops the whole run: the store or a model is gone, not one course's fault."""
    return isinstance(exc, (StoreUnavailableError, StoreCorruptError, ModelLoadError))


def _map_alone(retriever: SkillRetriever, course: Course) -> dict[str, Any]:
    try:
        return course_record(course, retriever.search_many([course.text])[0])
    except Exception as exc:
        if _fatal(exc):
            raise
        logger.warning("course %r not mapped: %s: %s", course.id, type(exc).__name__, exc)
        return {"id": course.id, "text_hash": course.text_hash, ERROR_KEY: _reason(exc)}


def _reason(exc: Exception) -> str:
    if isinstance(exc, CourseSkillsError):
        return exc.template  # each face spells its parameters (`CourseFailure.explain_for`)
    return f"mapping failed ({type(exc).__name__}: {exc}); map it again, or leave it out"


def map_batches_locally(
    retriever: SkillRetriever, courses: Sequence[Course], batch_size: int
) -> Iterator[list[dict[str, Any]]]:
    """Yield the records of each batch of `courses`, mapped by `retriever`.

    A batch that fails is mapped course by course; a course that fails alone comes back as a
    record with its `error` instead of skills, and the batches go on. Only the store or a
    model failing (`StoreUnavailableError`, `StoreCorruptError`, `ModelLoadError`) stops them.
    """
    for batch in _batches(courses, batch_size):
        try:
            found = retriever.search_many([course.text for course in batch])
        except Exception as exc:
            if _fatal(exc):
                raise
            yield [_map_alone(retriever, course) for course in batch]
            continue
        yield [course_record(course, docs) for course, docs in zip(batch, found)]
