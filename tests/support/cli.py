"""Shared by the unit and the integration tests of cli."""

from __future__ import annotations

from pathlib import Path

from langchain_course_skills import load_esco_skills
from langchain_course_skills.views import DEFAULT_VIEWS, view_passages

SLICE_SIZE = 300  # skills in the esco_slice fixture


def _passages(esco_slice: Path, skills: int = SLICE_SIZE) -> int:
    """Passages of the first `skills` slice skills in the default views (what `index` counts)."""
    return len(view_passages(load_esco_skills(esco_slice)[:skills], DEFAULT_VIEWS))
