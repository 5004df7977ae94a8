"""Shared by the unit and the integration tests of store."""

from langchain_core.documents import Document


def _skills(*labels: str) -> list[Document]:
    return [
        Document(
            id=f"urn:test:{label}",
            page_content=label,
            metadata={"label": label, "taxonomy": "TEST"},
        )
        for label in labels
    ]
