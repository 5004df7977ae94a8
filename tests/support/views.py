"""Shared by the unit and the integration tests of views."""

from pathlib import Path
from typing import Any

from langchain_core.documents import Document

from langchain_course_skills import (
    E5Embeddings,
    load_esco_skills,
    sync_skill_store,
)
from langchain_course_skills.store import (
    SyncReport,
)
from tests.conftest import (
    ESCO_DE_LABELS,  # same concept URIs as ESCO_EN, German labels
)

ALL_VIEWS = ("label", "alt", "description")


def _skill(uri: str, label: str, alts: list[str], description: str = "") -> Document:
    metadata = {
        "uri": uri,
        "label": label,
        "taxonomy": "TEST",
        "alt_labels": "\n".join(alts),
        "description": description,
    }
    return Document(id=uri, page_content=label, metadata=metadata)


SKILLS = [
    _skill(
        "urn:s:sheets",
        "use spreadsheets software",
        ["Excel", "work with spreadsheets"],
        "Use software tools to create and edit tabular data.",
    ),
    _skill("urn:s:wine", "taste wines", ["wine tasting", "sommelier skills"], "Taste wines."),
    _skill("urn:s:java", "Java (computer programming)", ["Java"], "Program in Java."),
]


def _german() -> list[Document]:
    return load_esco_skills(ESCO_DE_LABELS, columns={"preferredLabel": "preferredLabel_de"})


def _sync(docs: list[Document], embeddings: E5Embeddings, path: Path, **kwargs: Any) -> SyncReport:
    return sync_skill_store(docs, embeddings, persist_directory=path, show_progress=False, **kwargs)


class _Counting(E5Embeddings):
    """E5Embeddings that remember every passage text they embedded."""

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        self._seen: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self._seen.extend(texts)
        return super().embed_documents(texts)
