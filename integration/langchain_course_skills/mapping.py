"""Map a whole course catalogue to skills: batched, resumable, on one machine or a Ray cluster.

`map_courses` reads a catalogue (`read_courses`), skips the courses the output already holds
with the same text, maps the rest in batches with `SkillRetriever.search_many` (one model
load; the passages of a batch embedded together; the reranker pairs of a batch scored
together), and appends each batch's records to the output, flushed, so that a killed run loses
at most the batch in flight. A finished run leaves one record per course.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from langchain_course_skills._backends import Backend
from langchain_course_skills._map_output import MapOutput, OutputFormat
from langchain_course_skills._map_output import output_format as resolve_format
from langchain_course_skills._models import Precision
from langchain_course_skills.courses import Course, CourseFailure, read_courses
from langchain_course_skills.retrievers import SkillRetriever
from langchain_course_skills.vocabulary import (
    DEFAULT_COLLECTION,
    DEFAULT_EMBEDDING_MODEL,
    DEFAULT_FUSION,
    DEFAULT_K,
    DEFAULT_MAP_BATCH,
    DEFAULT_TOP_N,
    Fusion,
    skill_hits,
)

if TYPE_CHECKING:
    from langchain_core.documents import Document

logger = logging.getLogger(__name__)

Engine = Literal["local", "ray"]


class RetrieverSpec(BaseModel):
    """How to build a `SkillRetriever`: what a Ray worker needs to load its own models.

    Example:
        >>> spec = RetrieverSpec(model="./e5-course-skills", chroma_url="http://db:8000",
        ...                      reranker="./bge-reranker-course-skills", top_n=10)
        >>> retriever = spec.build()  # loads both models and connects to the store
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = DEFAULT_EMBEDDING_MODEL
    """The embedding model (Hub id or local folder) the store was built with."""
    reranker: str | None = None
    """A cross-encoder (Hub id or local folder) to re-rank with; None: no re-ranking."""
    device: str = "auto"
    """Torch device of both models; "auto" picks cuda, then mps, then cpu."""
    precision: Precision = "fp32"
    """Precision of both models (see `E5Embeddings.precision`)."""
    backend: Backend = "torch"
    """What computes both models (see `E5Embeddings.backend`)."""
    batch_size: int | None = Field(default=None, gt=0)
    """Texts per forward pass of the embedding model (None: its default)."""
    persist_directory: str | None = None
    """Folder of an embedded Chroma store (one machine only)."""
    chroma_url: str | None = None
    """A Chroma server, e.g. http://HOST:8000, instead of `persist_directory`."""
    chroma_token: str | None = None
    """Bearer token of the Chroma server."""
    collection: str = DEFAULT_COLLECTION
    """The store's collection."""
    k: int = Field(default=DEFAULT_K, gt=0)
    """Candidates per course (and per passage of a long one)."""
    top_n: int = Field(default=DEFAULT_TOP_N, gt=0)
    """Skills kept after re-ranking (with a reranker)."""
    taxonomies: list[str] | None = None
    """Only skills of these taxonomies."""
    min_score: float | None = None
    """Drop skills below this: the relevance score with a reranker, else the similarity."""
    fusion: Fusion = DEFAULT_FUSION
    """How the passages of a long course combine (see `SkillRetriever.fusion`)."""

    def build(self) -> SkillRetriever:
        """Load the models, open the store and return the retriever."""
        from langchain_course_skills._chroma_http import connect_chroma_server
        from langchain_course_skills.compressors import SkillReranker
        from langchain_course_skills.cross_encoders import SkillCrossEncoder
        from langchain_course_skills.embeddings import E5Embeddings
        from langchain_course_skills.store import open_skill_store

        embeddings = E5Embeddings(
            model_name=self.model,
            device=self.device,
            precision=self.precision,
            backend=self.backend,
            batch_size=self.batch_size,
        )
        if self.chroma_url:
            location: dict[str, Any] = {
                "client": connect_chroma_server(self.chroma_url, self.chroma_token)
            }
        else:
            location = {"persist_directory": self.persist_directory or "skills-db"}
        store = open_skill_store(embeddings, collection_name=self.collection, **location)
        reranker = None
        if self.reranker:
            encoder = SkillCrossEncoder(
                model_name=self.reranker,
                device=self.device,
                precision=self.precision,
                backend=self.backend,
            )
            reranker = SkillReranker(
                cross_encoder=encoder, top_n=self.top_n, score_threshold=self.min_score
            )
        return SkillRetriever(
            store=store,
            k=self.k,
            score_threshold=None if reranker else self.min_score,
            taxonomies=self.taxonomies,
            reranker=reranker,
            fusion=self.fusion,
        )


class RayOptions(BaseModel):
    """Where and how wide `map_courses(..., engine="ray")` runs."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = None
    """The cluster (e.g. "ray://head:10001" or "auto"); None starts or joins a local Ray."""
    actors: int | None = Field(default=None, gt=0)
    """Workers, each with its own models; None: one per GPU, else one per `num_cpus` CPUs."""
    num_cpus: float = Field(default=1.0, gt=0)
    """CPUs reserved per worker (on 2 cores, 0.5 leaves room for Ray's read tasks)."""
    num_gpus: float | None = Field(default=None, ge=0)
    """GPUs per worker; None: 1 when the cluster has GPUs, else 0."""


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
    """Courses that could not be mapped, with where and why."""
    seconds: float
    """Wall time of the run."""

    def summary(self) -> str:
        """One line: mapped, skipped, failed, seconds and courses per second."""
        rate = self.mapped / self.seconds if self.seconds > 0 else 0.0
        return (
            f"mapped {self.mapped}, skipped {self.skipped}, failed {len(self.failed)} in "
            f"{self.seconds:.1f} s ({rate:.1f} courses/s) -> {self.output}"
        )


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


def map_batches_locally(
    retriever: SkillRetriever, courses: Sequence[Course], batch_size: int
) -> Iterator[list[dict[str, Any]]]:
    """Yield the records of each batch of `courses`, mapped by `retriever`."""
    for batch in _batches(courses, batch_size):
        found = retriever.search_many([course.text for course in batch])
        yield [course_record(course, docs) for course, docs in zip(batch, found)]


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
) -> MapReport:
    """Map every course of a catalogue to its skills and write them to `output`.

    Running it again skips the courses that `output` holds with the same text, maps those
    that are new or whose text changed, and repairs what a killed run left; a finished run
    leaves one record per course.

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
    pending = []
    for course in (item for item in items if isinstance(item, Course)):
        if target.done.get(course.id) != course.text_hash:
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
    batches: Iterator[list[dict[str, Any]]] = iter(())
    if pending and isinstance(retriever, RetrieverSpec) and engine == "ray":
        from langchain_course_skills._map_ray import map_batches_with_ray

        batches = map_batches_with_ray(pending, retriever, ray or RayOptions(), batch_size)
    elif pending:
        built = retriever.build() if isinstance(retriever, RetrieverSpec) else retriever
        batches = map_batches_locally(built, pending, batch_size)
    try:
        with tqdm(
            total=len(pending),
            desc="mapping courses",
            unit="course",
            disable=None if show_progress else True,  # None: only on a terminal
        ) as bar:
            for number, records in enumerate(batches, start=1):
                target.append(records)
                bar.update(len(records))
                logger.info("batch %d written: %d courses", number, len(records))
    finally:
        target.close()
    return MapReport(
        output=path,
        mapped=len(pending),
        skipped=skipped,
        failed=failed,
        seconds=time.perf_counter() - started,
    )
