"""Shared by the unit and the integration tests of long_texts."""

from __future__ import annotations

from langchain_course_skills import (
    E5Embeddings,
)

FILLER = (
    "The course meets on weekday evenings in the community hall next to the station. "
    "Participants bring their own notebooks and pens. "
    "Coffee and tea are served during the break. "
)


HEAT_PUMP = "In the final module you install a heat pump in a family home yourself."


SHORT = "Learn to program in Haskell and write functional programs."


def _long_text(embeddings: E5Embeddings, tokens: int, ending: str = HEAT_PUMP) -> str:
    text = FILLER
    while embeddings.count_tokens(text) < tokens:
        text += FILLER
    return text + ending
