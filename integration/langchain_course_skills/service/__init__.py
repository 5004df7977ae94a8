"""The HTTP service and curator page (`course-skills serve`), and the curators' feedback.

`create_app` (in `service.app`) needs the `[serve]` extra (FastAPI); the feedback database and
its gold export need only the standard library, so `course-skills feedback export` works
without it.
"""

from langchain_course_skills.service.feedback import (
    FeedbackError,
    FeedbackStore,
    GoldExport,
    default_feedback_path,
    export_gold,
)

__all__ = ["FeedbackError", "FeedbackStore", "GoldExport", "default_feedback_path", "export_gold"]
