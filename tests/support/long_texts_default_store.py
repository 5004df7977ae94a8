"""Shared by the unit and the integration tests of long_texts_default_store."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_chroma import Chroma

from langchain_course_skills.store import skill_collection

WORDS = (150, 600, 1_200, 3_000)


CHARS = 20_000


def _sentences(esco_slice: Path) -> list[str]:
    """Real sentences: the descriptions of the ESCO slice."""
    with esco_slice.open(encoding="utf-8", newline="") as handle:
        return [row["description"].strip() for row in csv.DictReader(handle) if row["description"]]


def _course(sentences: list[str], *, words: int = 0, chars: int = 0) -> str:
    text, used = [], 0
    for sentence in (s for _ in range(100) for s in sentences):
        if (words and used >= words) or (chars and len(" ".join(text)) >= chars):
            break
        text.append(sentence)
        used += len(sentence.split())
    joined = " ".join(text)
    return joined[:chars] if chars else joined


def _recorded(store: Chroma, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    collection = skill_collection(store)
    real = collection.query
    sizes: list[int] = []

    def query(**kwargs: Any) -> Any:  # the real query, measured
        sizes.append(len(kwargs["query_embeddings"]) * kwargs["n_results"])
        return real(**kwargs)

    monkeypatch.setattr(collection, "query", query)
    yield sizes


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
