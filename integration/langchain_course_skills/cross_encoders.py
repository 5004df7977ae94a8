"""A cross-encoder that scores (course text, skill text) pairs in [0, 1]."""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING, Any

from langchain_core.cross_encoders import BaseCrossEncoder
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from langchain_course_skills._models import (
    Precision,
    load_cross_encoder,
    resolve_device,
    resolve_precision,
)
from langchain_course_skills.vocabulary import DEFAULT_RERANKER_MODEL

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

DEFAULT_MAX_LENGTH = 512  # tokens for the (course, skill) pair, the XLM-RoBERTa limit


class SkillCrossEncoder(BaseModel, BaseCrossEncoder):
    """Score (course text, skill text) pairs with a cross-encoder, as a probability in [0, 1].

    A model with one output (the course-skill reranker, bge-reranker) gives sigmoid(logit); a
    model with two labels (not relevant, relevant) gives the softmax probability of label 1,
    as LangChain's `HuggingFaceCrossEncoder` reads it. A model without a trained
    classification head (a bi-encoder folder) is refused when it is loaded.

    Example:
        >>> encoder = SkillCrossEncoder(model_name="path/to/reranker")
        >>> encoder.score([("WordPress Grundlagen ...", "WordPress")])
        [0.93]
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model_name: str = DEFAULT_RERANKER_MODEL
    """A sentence-transformers cross-encoder id on the Hugging Face Hub, or a local folder."""
    device: str = "auto"
    """Torch device; "auto" picks cuda, then mps, then cpu."""
    batch_size: int = Field(default=32, gt=0)
    """Pairs per forward pass."""
    max_length: int | None = Field(default=DEFAULT_MAX_LENGTH, gt=0)
    """Pairs longer than this many tokens are truncated; None keeps the model's own limit."""
    precision: Precision = "fp32"
    """fp32 (exact, the default), bf16, fp16, or auto (fp16 on CUDA, bf16 on CPUs with native
    bf16, else fp32): about 2x faster on such CPUs, at a small measured cost (see README)."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """More arguments for `CrossEncoder(...)`, for example `revision`, `token` or
    `cache_folder`."""

    _client: CrossEncoder = PrivateAttr()

    @field_validator("model_name", mode="before")
    @classmethod
    def _path_to_str(cls, value: object) -> object:
        return str(value) if isinstance(value, PathLike) else value

    def model_post_init(self, context: Any, /) -> None:
        """Load the model once, when the object is created."""
        device = resolve_device(self.device)
        dtype = resolve_precision(self.precision, device)
        self._client = load_cross_encoder(
            self.model_name, device, dtype, self.max_length, self.model_kwargs
        )

    @property
    def client(self) -> CrossEncoder:
        """The underlying sentence-transformers cross-encoder."""
        return self._client

    def score(self, text_pairs: list[tuple[str, str]]) -> list[float]:
        """Return the relevance probability of each (query, passage) pair, in the given order."""
        if not text_pairs:
            return []
        import torch

        # sentence-transformers sorts the pairs by length into batches and restores the order.
        logits = self._client.predict(
            text_pairs,
            batch_size=self.batch_size,
            activation_fn=torch.nn.Identity(),
            convert_to_tensor=True,
            show_progress_bar=False,
        )
        logits = logits.float().reshape(len(text_pairs), -1)
        if logits.shape[1] == 2:  # (not relevant, relevant)
            return torch.softmax(logits, dim=-1)[:, 1].tolist()
        return torch.sigmoid(logits[:, 0]).tolist()
