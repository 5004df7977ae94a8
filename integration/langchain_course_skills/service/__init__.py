"""The HTTP service and curator page (`course-skills serve`).

`create_app` (in `service.app`) needs the `[serve]` extra (FastAPI). The curators' feedback
database and its gold export are a library module (`langchain_course_skills.feedback`, the
standard library only) that the service, `search`, `map` and `feedback export` share; they
are re-exported here for code written against earlier versions.
"""

from langchain_course_skills.feedback import (
    FeedbackError,
    FeedbackStore,
    GoldExport,
    default_feedback_path,
    export_gold,
)

__all__ = ["FeedbackError", "FeedbackStore", "GoldExport", "default_feedback_path", "export_gold"]
