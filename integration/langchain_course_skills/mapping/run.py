"""Map a whole course catalogue to skills: batched, resumable, on one machine or a Ray cluster.

`map_courses` reads a catalogue (`read_courses`), skips the courses the output already holds
with the same text, maps the rest in batches with `SkillRetriever.search_many` (one model
load; the passages of a batch embedded together; the reranker pairs of a batch scored
together), and appends each batch's records to the output, flushed, so that a killed run loses
at most the batch in flight. A finished run leaves one record per course.

With the curators' verdicts (`feedback`), each skill carries its verdict for that course text,
rejected skills are left out, accepted ones are kept even where the search no longer ranks
them, and every course with a verdict is mapped again, so that new verdicts take effect.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from langchain_course_skills.courses import Course, CourseFailure, read_courses
from langchain_course_skills.feedback import text_sha256
from langchain_course_skills.mapping.batch import ERROR_KEY, map_batches_locally
from langchain_course_skills.mapping.options import Engine, OutputFormat, RayOptions
from langchain_course_skills.mapping.output import MapOutput
from langchain_course_skills.mapping.output import output_format as resolve_format
from langchain_course_skills.spec import RetrieverSpec
from langchain_course_skills.verdicts import apply_verdicts
from langchain_course_skills.vocabulary import DEFAULT_MAP_BATCH

if TYPE_CHECKING:
    from langchain_course_skills.feedback import FeedbackStore
    from langchain_course_skills.retrievers import SkillRetriever


logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MapReport:
    """What one mapping run did."""

    output: Path
    """The output file."""
    mapped: int
    """Courses mapped (new, or with a changed text)."""
    skipped: int
    """Courses the output already held with the same text."""
    failed: tuple[CourseFailure, ...]
    """Courses that could not be read or mapped, with where and why (a course whose search
    failed is left out of the output and tried again by the next run)."""
    seconds: float
    """Wall time of the run."""

    def summary(self) -> str:
        """One line: mapped, skipped, failed, seconds and courses per second."""
        rate = self.mapped / self.seconds if self.seconds > 0 else 0.0
        return (
            f"mapped {self.mapped}, skipped {self.skipped}, failed {len(self.failed)} in "
            f"{self.seconds:.1f} s ({rate:.1f} courses/s) -> {self.output}"
        )


def _failure(course: Course, reason: str) -> CourseFailure:
    return CourseFailure(course.source or "catalogue", course.line, course.id, reason)


def _with_verdicts(
    records: list[dict[str, Any]],
    by_id: dict[str, Course],
    feedback: FeedbackStore,
    keep_rejected: bool,
    retriever: SkillRetriever | RetrieverSpec,
) -> list[dict[str, Any]]:
    """Apply each course's verdicts to its record's skills (accepted ones kept)."""
    verdicts = feedback.course_verdicts([by_id[str(r["id"])].text for r in records])
    for record, judged in zip(records, verdicts):
        record["skills"] = apply_verdicts(
            record["skills"],
            judged,
            keep_rejected=keep_rejected,
            keep_accepted=True,
            taxonomies=retriever.taxonomies,
        )
    return records


def _distinct_texts(courses: list[Course]) -> tuple[list[Course], dict[str, list[str]]]:
    """The first course of each distinct text, and per such course the ids of its twins.

    A catalogue often holds one course text several times (the same course on other dates or
    at other places); its skills are the same, so it is mapped once.
    """
    first: dict[str, Course] = {}
    twins: dict[str, list[str]] = {}
    for course in courses:
        kept = first.setdefault(course.text, course)
        if kept is not course:
            twins.setdefault(kept.id, []).append(course.id)
    return list(first.values()), twins


def map_courses(
    courses: str | Path | Iterable[Course | CourseFailure],
    output: str | Path,
    retriever: SkillRetriever | RetrieverSpec,
    *,
    output_format: OutputFormat | None = None,
    batch_size: int = DEFAULT_MAP_BATCH,
    engine: Engine = "local",
    ray: RayOptions | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
    feedback: FeedbackStore | None = None,
    keep_rejected: bool = False,
) -> MapReport:
    """Map every course of a catalogue to its skills and write them to `output`.

    Running it again skips the courses that `output` holds with the same text, maps those
    that are new or whose text changed, and repairs what a killed run left; a finished run
    leaves one record per course. Courses with the same text are searched once: each gets its
    own record, written right after the first one's.

    Example:
        >>> report = map_courses("catalogue.csv", "skills.jsonl", retriever)
        >>> report.summary()
        'mapped 1200, skipped 0, failed 1 in 95.0 s (12.6 courses/s) -> skills.jsonl'

    Args:
        courses: A catalogue path or "-" (read with `read_courses`' defaults), or the
            courses (and failures) from `read_courses` with your own columns.
        output: A `.jsonl` file (one line per course: id, text_hash, skills with rank, uri,
            label, taxonomy, similarity, relevance_score, evidence) or a `.csv` file (one
            row per course and skill).
        retriever: The retriever, or a `RetrieverSpec` to build it from (needed for Ray,
            whose workers load their own models).
        output_format: "jsonl" or "csv"; default: from the output's suffix.
        batch_size: Courses per batch.
        engine: "local" (this process) or "ray" (Ray Data over actors, store on a server).
        ray: Where and how wide to run with Ray.
        overwrite: Start the output afresh instead of resuming it.
        show_progress: Show a progress bar (with courses/s and time left) on a terminal.
        feedback: The curators' verdicts to apply (see the module docstring); courses with a
            verdict are mapped again on every run.
        keep_rejected: With `feedback`, keep rejected skills, marked rejected.

    Returns:
        What was mapped, skipped and failed, and how long it took.

    Raises:
        CourseInputError: The catalogue cannot be read.
        MapOutputError: `output` is a file that `map_courses` did not write.
        ValueError: A batch size that is not positive, or Ray without a `RetrieverSpec`
            on a Chroma server.
    """
    started = time.perf_counter()
    if batch_size <= 0:
        msg = f"batch_size must be a positive number of courses, got {batch_size}"
        raise ValueError(msg)
    path = Path(output).expanduser()
    fmt = resolve_format(path, output_format)
    items = list(read_courses(courses) if isinstance(courses, (str, Path)) else courses)
    failed = tuple(item for item in items if isinstance(item, CourseFailure))
    for failure in failed:
        logger.info("not mapped: %s", failure)
    target = MapOutput(path, fmt, overwrite=overwrite)
    judged = feedback.judged_texts() if feedback is not None else set()
    pending = []
    for course in (item for item in items if isinstance(item, Course)):
        again = bool(judged) and text_sha256(course.text) in judged  # verdicts may be new
        if again or target.done.get(course.id) != course.text_hash:
            target.forget(course.id)
            pending.append(course)
    skipped = sum(isinstance(item, Course) for item in items) - len(pending)
    if engine not in ("local", "ray"):
        msg = f"engine must be 'local' or 'ray', not {engine!r}"
        raise ValueError(msg)
    if engine == "ray" and not isinstance(retriever, RetrieverSpec):
        msg = (
            "engine='ray' needs a RetrieverSpec (model names and a Chroma server), not a "
            "SkillRetriever: each Ray worker loads its own models"
        )
        raise ValueError(msg)
    distinct, twins = _distinct_texts(pending)
    batches: Iterator[list[dict[str, Any]]] = iter(())
    if distinct and isinstance(retriever, RetrieverSpec) and engine == "ray":
        from langchain_course_skills.mapping.distributed import map_batches_with_ray

        batches = map_batches_with_ray(distinct, retriever, ray or RayOptions(), batch_size)
    elif distinct:
        built = retriever.build() if isinstance(retriever, RetrieverSpec) else retriever
        batches = map_batches_locally(built, distinct, batch_size)
    by_id = {course.id: course for course in pending}
    unmapped: list[CourseFailure] = []
    try:
        with tqdm(
            total=len(pending),
            desc="mapping courses",
            unit="course",
            disable=None if show_progress else True,  # None: only on a terminal
        ) as bar:
            for number, found in enumerate(batches, start=1):
                records = [
                    {**record, "id": course_id}
                    for record in found
                    for course_id in (record["id"], *twins.get(record["id"], ()))
                ]
                mapped = [record for record in records if ERROR_KEY not in record]
                if feedback is not None:
                    mapped = _with_verdicts(mapped, by_id, feedback, keep_rejected, retriever)
                target.append(mapped)
                failed_now = [record for record in records if ERROR_KEY in record]
                unmapped.extend(_failure(by_id[r["id"]], r[ERROR_KEY]) for r in failed_now)
                bar.update(len(records))
                logger.info("batch %d written: %d courses", number, len(records))
    finally:
        target.close()
    return MapReport(
        output=path,
        mapped=len(pending) - len(unmapped),
        skipped=skipped,
        failed=failed + tuple(unmapped),
        seconds=time.perf_counter() - started,
    )
