"""The installed package version."""

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    """Return the installed version of langchain-course-skills ("unknown" from a source tree)."""
    try:
        return version("langchain-course-skills")
    except PackageNotFoundError:
        return "unknown"
