"""Errors that users can act on.

Every expected failure (bad input, a missing store, a model that cannot be loaded) raises a
subclass of `CourseSkillsError`, so the command line can print its message without a traceback.
The subclasses also derive from the matching built-in error so that callers who catch
`ValueError` or `LookupError` keep working.
"""

from __future__ import annotations


class CourseSkillsError(Exception):
    """Base class of the errors whose message tells the user what to do."""


class TaxonomyError(CourseSkillsError, ValueError):
    """A taxonomy file is missing, empty, malformed or contains duplicate ids."""


class ModelLoadError(CourseSkillsError, OSError):
    """A model could not be loaded (for example offline, without a local copy)."""


class StoreNotFoundError(CourseSkillsError, LookupError):
    """The skill store or collection does not exist yet."""


class StoreMismatchError(CourseSkillsError, ValueError):
    """The store was built with other embeddings or another distance."""


class CourseInputError(CourseSkillsError, ValueError):
    """A course catalogue cannot be read at all (missing file, unknown format, no id column)."""


class MapOutputError(CourseSkillsError, ValueError):
    """The output file of a mapping run is not one that `map_courses` writes."""
