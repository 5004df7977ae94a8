"""A cross-encoder that scores (course text, skill text) pairs in [0, 1]."""

from __future__ import annotations

import logging
from os import PathLike
from typing import TYPE_CHECKING, Any

from langchain_core.cross_encoders import BaseCrossEncoder
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from langchain_course_skills.models.backends import Runtime, resolve_runtime, use_backend
from langchain_course_skills.models.loading import load_cross_encoder, resolve_device
from langchain_course_skills.models.options import Backend, Precision
from langchain_course_skills.passages import counting_tokens, split_passages, tokenizer_lock
from langchain_course_skills.vocabulary import DEFAULT_RERANKER_MODEL

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

logger = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 512  # tokens for the (course, skill) pair, the XLM-RoBERTa limit
# A course window shorter than this says too little to score; a skill text that leaves less
# room is cut by the model instead (with a warning).
MIN_COURSE_TOKENS = 32


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
    precision: Precision = "auto"
    """fp32, bf16, fp16, or auto (the default); as `E5Embeddings.precision`."""
    backend: Backend = "auto"
    """torch, onednn, onnx, openvino, or auto (the default); as `E5Embeddings.backend`."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """More arguments for `CrossEncoder(...)`, for example `revision`, `token` or
    `cache_folder`."""

    _client: CrossEncoder = PrivateAttr()
    _runtime: Runtime = PrivateAttr()

    @field_validator("model_name", mode="before")
    @classmethod
    def _path_to_str(cls, value: object) -> object:
        return str(value) if isinstance(value, PathLike) else value

    def model_post_init(self, context: Any, /) -> None:
        """Load the model once, when the object is created."""
        device = resolve_device(self.device)
        self._runtime = resolve_runtime(self.backend, self.precision, device)
        backend, dtype = self._runtime.backend, self._runtime.dtype
        self._client = load_cross_encoder(
            self.model_name,
            device,
            dtype,
            self.max_length,
            self.model_kwargs,
            backend=backend,
        )
        if backend != "torch":
            use_backend(self._client, self.model_name, backend, dtype)

    @property
    def runtime(self) -> Runtime:
        """What computes the model, as `backend` and `precision` resolved ("openvino bf16")."""
        return self._runtime

    @property
    def client(self) -> CrossEncoder:
        """The underlying sentence-transformers cross-encoder."""
        return self._client

    @property
    def max_tokens(self) -> int:
        """Tokens of a (query, passage) pair the model reads, special tokens included."""
        length = self._client.max_seq_length or self._client.tokenizer.model_max_length
        return int(length)

    def _fitted(self, text_pairs: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[int]]:
        """Return pairs that fit the model, and the index of the given pair each one scores.

        A pair over the limit is replaced by (window of the query, passage) pairs: the query is
        split like a long course text, so that no word of it is cut off unseen.
        """
        tokenizer = self._client.tokenizer
        specials = tokenizer.num_special_tokens_to_add(pair=True)
        texts = list(dict.fromkeys(text for pair in text_pairs for text in pair))
        with counting_tokens(tokenizer):
            encoded = tokenizer(texts, add_special_tokens=False, truncation=False)
        tokens = dict(zip(texts, (len(ids) for ids in encoded["input_ids"])))
        room: dict[str, int] = {}  # query -> tokens its windows may have
        split: set[int] = set()  # the pairs scored window by window
        for index, (query, passage) in enumerate(text_pairs):
            left = self.max_tokens - specials - tokens[passage]
            if tokens[query] <= left:
                continue
            if left < MIN_COURSE_TOKENS:
                logger.warning(
                    "a skill text of %d tokens leaves no room for the course text in the "
                    "cross-encoder's %d tokens; the pair is cut. Index shorter skill texts.",
                    tokens[passage],
                    self.max_tokens,
                )
                continue
            room[query] = min(room.get(query, left), left)
            split.add(index)
        if not split:
            return text_pairs, list(range(len(text_pairs)))
        windows = {
            query: [passage.of(query) for passage in split_passages(query, tokenizer, budget)]
            for query, budget in room.items()
        }
        fitted, owners = [], []
        for index, (query, passage) in enumerate(text_pairs):
            for window in windows[query] if index in split else [query]:
                fitted.append((window, passage))
                owners.append(index)
        return fitted, owners

    def score(self, text_pairs: list[tuple[str, str]]) -> list[float]:
        """Return the relevance probability of each (query, passage) pair, in the given order.

        A pair longer than the model reads is scored window by window over the query (the
        course text), and gets the best window's score: the pair is never silently cut. A pair
        given twice (a passage repeated in a long course, a course text twice) is scored once.
        """
        if not text_pairs:
            return []
        import torch

        with tokenizer_lock(self._client.tokenizer):  # see passages.counting_tokens
            fitted, owners = self._fitted(list(text_pairs))
            distinct = list(dict.fromkeys(fitted))
            # sentence-transformers sorts the pairs by length into batches, restores the order.
            logits = self._client.predict(
                distinct,
                batch_size=self.batch_size,
                activation_fn=torch.nn.Identity(),
                convert_to_tensor=True,
                show_progress_bar=False,
            )
        logits = logits.float().reshape(len(distinct), -1)
        if logits.shape[1] == 2:  # (not relevant, relevant)
            values = torch.softmax(logits, dim=-1)[:, 1].tolist()
        else:
            values = torch.sigmoid(logits[:, 0]).tolist()
        scores = dict(zip(distinct, values))
        best = [float("-inf")] * len(text_pairs)
        for owner, pair in zip(owners, fitted):
            best[owner] = max(best[owner], scores[pair])
        return best
