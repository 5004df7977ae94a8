"""Models: how they run, where they come from and how they load.

`options` holds the public choices (`Backend`, `Precision`), `loading` finds and loads a model,
`backends` runs its transformer through ONNX Runtime or OpenVINO.

Only the options are imported here, so that naming a backend or a precision loads no torch.
"""

from langchain_course_skills.models.options import (
    BACKENDS,
    PRECISIONS,
    Backend,
    OnnxOptimization,
    Precision,
)

__all__ = ["BACKENDS", "PRECISIONS", "Backend", "OnnxOptimization", "Precision"]
