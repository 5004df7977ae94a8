"""Errors that users can act on.

Every expected failure (bad input, a missing store, a model that cannot be loaded) raises a
subclass of `CourseSkillsError`, so the command line can print its message without a traceback.
The subclasses also derive from the matching built-in error so that callers who catch
`ValueError` or `LookupError` keep working.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# A parameter named in a message, as `parameter()` marks it: «name» or «name=value».
_PARAMETER = re.compile("\u00ab(\\w+)(?:=([^\u00bb]*))?\u00bb")


def parameter(name: str, value: str = "") -> str:
    """Mark the parameter `name` (with the value to pass, if any) in an error message.

    Library messages speak of parameters, and of the functions that do a step (for example
    `build_skill_store`); each face spells them its own way through `spell`:
    `parameter("resume", "True")` reads `resume=True` in Python and `--resume` on the command
    line, `parameter("build_skill_store")` reads `course-skills index` there.
    """
    return f"\u00ab{name}={value}\u00bb" if value else f"\u00ab{name}\u00bb"


def spell(template: str, options: Mapping[str, str]) -> str:
    """Return `template` with each marked parameter spelled as `options` name it.

    Args:
        template: A message with parameters marked by `parameter`.
        options: A face's spelling per parameter, by name (`{"resume": "--resume"}`) or by
            name and value (`{"strict=False": "--skip-unresolved"}`, tried first). A value
            other than True follows the option (`--taxonomy table`); parameters missing
            here keep their Python spelling.
    """

    def spelled(match: re.Match[str]) -> str:
        name, value = match.group(1), match.group(2) or ""
        python = f"{name}={value}" if value else name
        if python in options:
            return options[python]
        if name not in options:
            return python
        shown = value.strip("'\"")
        return options[name] if shown in ("", "True") else f"{options[name]} {shown}"

    return _PARAMETER.sub(spelled, template)


class CourseSkillsError(Exception):
    """Base class of the errors whose message tells the user what to do.

    `str(error)` names parameters as Python spells them; `explain_for(options)` names them as
    a face does (the command line's flags).
    """

    def __init__(self, message: str = "", *args: object) -> None:
        self.template = str(message)
        super().__init__(self.explain_for({}), *args)

    def explain_for(self, options: Mapping[str, str]) -> str:
        """Return the message with each parameter spelled as `options` name it (`spell`)."""
        return spell(self.template, options)


class TaxonomyError(CourseSkillsError, ValueError):
    """A taxonomy file is bad (missing, empty, malformed, duplicate ids), or a filter is unknown.

    An unknown filter names a taxonomy the store does not hold ("esco" for "ESCO").
    """


class GoldSetError(CourseSkillsError, ValueError):
    """A gold file is missing, empty or malformed, or its skills are not in the store."""


class TrainingDataError(CourseSkillsError, ValueError):
    """Training or evaluation data is missing, empty, malformed, or does not fit the taxonomy."""


class ModelLoadError(CourseSkillsError, OSError):
    """A model could not be found or loaded (for example offline, without a local copy).

    It keeps the problem apart from the fix, so that each face can name its own way of passing
    a model: `explain("--reranker DIR", skip="leave out --rerank")` on the command line,
    `model_name='DIR'` in Python (the default message).
    """

    def __init__(
        self,
        problem: str,
        *,
        model_name: str = "",
        kind: str = "embedding",
        downloadable: bool = True,
        offline: bool = False,
    ) -> None:
        self.problem = problem
        self.model_name = model_name
        self.kind = kind
        self.downloadable = downloadable
        self.offline = offline
        skip = "use the retriever without a reranker" if kind == "cross-encoder" else None
        super().__init__(self.explain("model_name='DIR'", skip=skip))

    @classmethod
    def empty_name(cls, kind: str) -> ModelLoadError:
        """The error for an empty model name."""
        return cls(f"the {kind} model name is empty", kind=kind, downloadable=False)

    def explain(self, option: str, *, skip: str | None = None) -> str:
        """Return the message with `option` as the way to pass a model folder.

        Args:
            option: How this face takes a model, for example "--model DIR".
            skip: How to go on without this model, if the face can.
        """
        if not self.model_name:
            fix = f"pass a Hugging Face Hub id or a local model folder ({option})"
        elif not self.downloadable:
            fix = f"pass a trained {self.kind} model instead ({option})"
        else:
            fix = (
                f"download it where the Hub is reachable (`hf download {self.model_name} "
                f"--local-dir DIR`) and pass the local folder ({option})"
            )
            if not self.offline:
                fix += ", or set HF_HUB_OFFLINE=1 to load a copy from the Hugging Face cache"
        if skip:
            fix += f", or {skip}"
        return f"{self.problem}; {fix}"


class StoreNotFoundError(CourseSkillsError, LookupError):
    """The skill store or collection does not exist yet."""


class StoreMismatchError(CourseSkillsError, ValueError):
    """The store was built with other embeddings or another distance."""


class StoreUnavailableError(CourseSkillsError, OSError):
    """The store cannot be reached or written: a lost or hung server, read-only media, a full disk.

    What was written before the fault is kept; running the same command again completes it.
    """


class StoreCorruptError(CourseSkillsError, OSError):
    """The store's files are damaged (truncated or overwritten); rebuild it from the taxonomy."""


class StoreRequestError(CourseSkillsError, RuntimeError):
    """The store could not answer one request, for no fault of its disk, files or connection.

    Other requests (another course) may succeed; `map_courses` records the course as failed.
    """


class StoreConflictError(CourseSkillsError, RuntimeError):
    """Another writer kept changing the same collection while a sync ran (Chroma server only)."""


class CourseInputError(CourseSkillsError, ValueError):
    """A course catalogue cannot be read at all (missing file, unknown format, no id column)."""


class MapOutputError(CourseSkillsError, ValueError):
    """The output file of a mapping run is not one that `map_courses` writes."""
