"""What the package asks of an embeddings object, as protocols instead of class checks.

Any embeddings that have these methods are treated alike, whatever their class: the store
records their fingerprint, and course texts are embedded in batches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


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


@runtime_checkable
class TokenizedEmbeddings(Protocol):
    """Embeddings that count tokens, so that a long course text can be read passage by passage.

    Others get the whole text, and read what their model reads of it.
    """

    @property
    def max_tokens(self) -> int:
        """Tokens the model reads of a query, its prefix and special tokens included."""
        ...

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        """The model's tokenizer (offsets of passages are taken from it)."""
        ...

    def count_tokens(self, text: str, *, query: bool = True) -> int:
        """Tokens of `text` as the model reads it, prefix included."""
        ...

    def token_counts(self, texts: list[str], *, query: bool = True) -> list[int]:
        """`count_tokens` of many texts at once."""
        ...
