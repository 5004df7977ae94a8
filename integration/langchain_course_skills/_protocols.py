"""What the package asks of an embeddings object, as protocols instead of class checks.

Any embeddings that have these methods are treated alike, whatever their class: the store
records their fingerprint, and course texts are embedded in batches.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class FingerprintedEmbeddings(Protocol):
    """Embeddings that say which model they are, so that a store can record and check it.

    `fingerprint()` returns `model` (a Hub id or an absolute folder), `dimension`,
    `query_prefix` and `passage_prefix`, and `revision` (the Hub commit) where one is known.
    """

    def fingerprint(self) -> dict[str, str | int]:
        """Describe the model as a store records it."""
        ...


@runtime_checkable
class QueryBatchEmbeddings(Protocol):
    """Embeddings that embed many course texts as queries in one call."""

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """Embed course texts as queries."""
        ...
