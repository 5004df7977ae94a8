"""What each worker process of the service is built from: its own settings, sent as JSON.

`course-skills serve` checks its options once, then starts uvicorn's worker processes; each
builds the app from a `WorkerOptions` it reads from the environment (`from_environment`):
the retriever's `RetrieverSpec`, the `ServiceSettings` and the torch threads. The bearer
token travels in its own environment variable, never in the JSON.

Example:
    >>> os.environ[OPTIONS_ENV] = WorkerOptions(spec=spec, settings=settings).to_environment()
    >>> app = create_app(lambda: load_service(spec), WorkerOptions.from_environment().settings)
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from langchain_course_skills.errors import CourseSkillsError
from langchain_course_skills.service.app import ServiceSettings
from langchain_course_skills.spec import RetrieverSpec
from langchain_course_skills.vocabulary import SERVE_OPTIONS_ENV as OPTIONS_ENV
from langchain_course_skills.vocabulary import SERVE_TOKEN_ENV as TOKEN_ENV


class WorkerOptions(BaseModel):
    """Everything a worker needs to build the service."""

    model_config = ConfigDict(extra="forbid")

    spec: RetrieverSpec
    """The retriever: models, store, fusion (k, top_n and taxonomies come with each request)."""
    settings: ServiceSettings
    """Feedback file, token, admission limits, allowed hosts."""
    threads: int | None = Field(default=None, gt=0)
    """Torch threads per worker; None: torch's default."""

    def to_environment(self) -> str:
        """Return the options as JSON for `OPTIONS_ENV`, without the token (see `TOKEN_ENV`)."""
        return self.model_dump_json(exclude={"settings": {"token"}})

    @classmethod
    def from_environment(cls) -> WorkerOptions:
        """Read the options `course-skills serve` left in the environment, with the token.

        Raises:
            CourseSkillsError: `OPTIONS_ENV` is not set: the process was not started by serve.
        """
        text = os.environ.get(OPTIONS_ENV)
        if text is None:
            msg = f"{OPTIONS_ENV} is not set; start the service with `course-skills serve`"
            raise CourseSkillsError(msg)
        options = cls.model_validate_json(text)
        token = os.environ.get(TOKEN_ENV) or None
        settings = options.settings.model_copy(
            update={"token": SecretStr(token) if token else None}
        )
        return options.model_copy(update={"settings": settings})
