"""Map a whole course catalogue to skills (`map_courses`), on one machine or a Ray cluster.

`run` is the driver and the local engine, `batch` maps one batch of courses, `distributed`
runs the batches on Ray actors, `output` reads and writes the JSONL and CSV outputs, and
`options` holds the public choices (`Engine`, `OutputFormat`, `RayOptions`).
"""

from langchain_course_skills.mapping.batch import course_record, map_batches_locally
from langchain_course_skills.mapping.options import Engine, OutputFormat, RayOptions
from langchain_course_skills.mapping.run import MapReport, map_courses
from langchain_course_skills.spec import RetrieverSpec

__all__ = [
    "Engine",
    "MapReport",
    "OutputFormat",
    "RayOptions",
    "RetrieverSpec",
    "course_record",
    "map_batches_locally",
    "map_courses",
]
