"""The Ray engine of `map_courses`: Ray Data `map_batches` over actors that load the models once.

The driver reads the catalogue and writes the output exactly as the local engine does (same
formats, same resume); only the mapping of the pending courses runs on the cluster. Every
actor builds its own `SkillRetriever` from the `RetrieverSpec` and reaches the store on a
Chroma server.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from langchain_course_skills.courses import Course
from langchain_course_skills.mapping.batch import map_batches_locally
from langchain_course_skills.mapping.options import RayOptions
from langchain_course_skills.spec import RetrieverSpec

if TYPE_CHECKING:
    from types import ModuleType

    from langchain_course_skills.retrievers import SkillRetriever

logger = logging.getLogger(__name__)

RAY_INSTALL = "pip install 'langchain-course-skills[ray]'"
_DRIVER_CPUS = 1  # CPUs left to Ray Data's own read and write tasks when sizing the pool


def _ray() -> ModuleType:
    try:
        import ray
        import ray.data  # noqa: F401  (Ray Data is an extra of ray)
    except ImportError as exc:
        msg = f"engine='ray' needs Ray Data, which is not installed; run `{RAY_INSTALL}`"
        raise ImportError(msg) from exc
    return ray


class CourseMapper:
    """A Ray actor: loads the models once, then maps one batch of courses per call."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.retriever: SkillRetriever = RetrieverSpec(**spec).build()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Map a batch of courses (columns id and text) to their records as JSON."""
        courses = [Course(id=str(i), text=str(t)) for i, t in zip(batch["id"], batch["text"])]
        records = next(map_batches_locally(self.retriever, courses, len(courses)))
        lines = [json.dumps(record, ensure_ascii=False) for record in records]
        return {"record": np.array(lines, dtype=object)}


def _pool(ray: ModuleType, options: RayOptions) -> tuple[int, float]:
    """Return (actors, GPUs per actor) for the cluster."""
    resources = ray.cluster_resources()
    gpus = resources.get("GPU", 0.0)
    per_actor = options.num_gpus if options.num_gpus is not None else (1.0 if gpus >= 1 else 0.0)
    if options.actors:
        return options.actors, per_actor
    if per_actor > 0:
        return max(1, int(gpus // per_actor)), per_actor
    cpus = resources.get("CPU", 1.0) - _DRIVER_CPUS
    return max(1, int(cpus // options.num_cpus)), per_actor


def map_batches_with_ray(
    courses: Sequence[Course], spec: RetrieverSpec, options: RayOptions, batch_size: int
) -> Iterator[list[dict[str, Any]]]:
    """Yield the records of `courses` batch by batch, in order, mapped on a Ray cluster."""
    if not spec.chroma_url:
        msg = (
            "engine='ray' needs the skill store on a Chroma server that every worker reaches; "
            "start one with `chroma run --path DB_FOLDER --host 0.0.0.0 --port 8000` and pass "
            "its URL as the spec's chroma_url"
        )
        raise ValueError(msg)
    ray = _ray()
    if not ray.is_initialized():
        if options.address:
            ray.init(address=options.address, logging_level=logging.WARNING)
        else:
            ray.init(include_dashboard=False, logging_level=logging.WARNING)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # the output follows the catalogue
    context.enable_progress_bars = False  # map_courses shows its own
    actors, gpus = _pool(ray, options)
    logger.info("Ray: %d actors, %.2g CPUs and %.2g GPUs each", actors, options.num_cpus, gpus)
    rows = [{"id": course.id, "text": course.text} for course in courses]
    dataset = ray.data.from_items(rows, override_num_blocks=math.ceil(len(rows) / batch_size))
    mapped = dataset.map_batches(
        CourseMapper,
        fn_constructor_kwargs={"spec": spec.model_dump()},
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=options.num_cpus,
        num_gpus=gpus,
    )
    for batch in mapped.iter_batches(batch_size=None, batch_format="numpy"):
        yield [json.loads(line) for line in batch["record"]]
