"""Prefix-correct e5 embeddings: `query: ` for course texts, `passage: ` for skills."""

from __future__ import annotations

import logging
from os import PathLike
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from langchain_course_skills._batching import token_batches
from langchain_course_skills._protocols import QueryBatchEmbeddings
from langchain_course_skills._revision import model_revision
from langchain_course_skills.models.backends import Runtime, resolve_runtime, use_backend
from langchain_course_skills.models.loading import (
    load_sentence_transformer,
    model_identity,
    resolve_device,
)
from langchain_course_skills.models.options import Backend, Precision
from langchain_course_skills.passages import counting_tokens, tokenizer_lock
from langchain_course_skills.vocabulary import (  # noqa: F401  (check_text: public here before)
    DEFAULT_EMBEDDING_MODEL,
    check_text,
    check_texts,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

QUERY_PREFIX = "query: "  # e5 instruction for the course text
PASSAGE_PREFIX = "passage: "  # e5 instruction for each skill
DEFAULT_MAX_SEQ_LENGTH = 512  # tokens, the e5-base limit
CPU_BATCH_SIZE = 32
# On the CPU, batches hold about this many padded tokens (many short labels, few long texts).
# Embedding the default views of 150 ESCO skills (1,238 passages, 14,962 tokens; e5-base
# shape, torch fp32, 2-core AMD EPYC, quiet) took 15.8 s with 512 or 1,024-token batches,
# 16.5 s with 256 and 16.3 s in batches of 32 passages: a small gain, as the model is
# compute-bound either way (benchmarks/default_store_build.py).
CPU_TOKEN_BUDGET = 512
# On an H100, 13,896 ESCO passages embed about 1.7x faster in batches of 128 than of 32: small
# batches leave a GPU waiting for Python (sentence-transformers sorts by length, so larger
# batches add little padding).
GPU_BATCH_SIZE = 256


class E5Embeddings(BaseModel, Embeddings):
    """e5 embeddings with the query and passage prefixes applied by construction.

    Example:
        >>> embeddings = E5Embeddings(model_name="path/to/model")
        >>> len(embeddings.embed_query("WordPress Grundlagen"))
        768
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model_name: str = DEFAULT_EMBEDDING_MODEL
    """A sentence-transformers model id on the Hugging Face Hub, or a local folder."""
    device: str = "auto"
    """Torch device; "auto" picks cuda, then mps, then cpu."""
    batch_size: int | None = Field(default=None, gt=0)
    """Texts per forward pass; None: 256 on a CUDA GPU; elsewhere as many as `token_budget`
    allows. Given, it caps the texts per pass there too."""
    token_budget: int | None = Field(default=None, gt=0)
    """Padded tokens per forward pass where batches go by tokens; None: 512 on the CPU, and
    batches of `batch_size` texts on a GPU (which wants large batches)."""
    max_seq_length: int | None = Field(default=DEFAULT_MAX_SEQ_LENGTH, gt=0)
    """Longer inputs are truncated to this many tokens (or the model's own limit, if lower);
    None keeps the model's own limit."""
    precision: Precision = "auto"
    """fp32, bf16, fp16, or auto (the default): with `backend`, the fastest variant measured
    quality-neutral against torch fp32 that this machine can run (`runtime` says which; see
    `AUTO_CPU_VARIANTS` and docs/benchmarks.md). fp32 is exact; bf16 is about 2-3x faster on
    CPUs with native bf16 at a small measured cost."""
    backend: Backend = "auto"
    """What computes the model: torch, onednn (torch with oneDNN's fp32 linear layers, no
    extra), onnx (ONNX Runtime, fp32), openvino (OpenVINO, in `precision`), or auto (the
    default; see `precision`). onednn, onnx and openvino run on the CPU; onnx and openvino
    need the `onnx` or `openvino` extra and export the model once (cached beside it)."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """More arguments for `SentenceTransformer(...)`, for example `revision`, `token` or
    `cache_folder` (as in `HuggingFaceEmbeddings`)."""

    _client: SentenceTransformer = PrivateAttr()
    _runtime: Runtime = PrivateAttr()
    _batch_size: int = PrivateAttr()
    _token_budget: int | None = PrivateAttr()

    @field_validator("model_name", mode="before")
    @classmethod
    def _path_to_str(cls, value: object) -> object:
        return str(value) if isinstance(value, PathLike) else value

    def model_post_init(self, context: Any, /) -> None:
        """Load the model once, when the object is created."""
        device = resolve_device(self.device)
        self._runtime = resolve_runtime(self.backend, self.precision, device)
        backend, dtype = self._runtime.backend, self._runtime.dtype
        gpu = device.startswith("cuda")
        default_batch = GPU_BATCH_SIZE if gpu else CPU_BATCH_SIZE
        self._batch_size = self.batch_size or default_batch
        self._token_budget = self.token_budget or (None if gpu else CPU_TOKEN_BUDGET)
        self._client = load_sentence_transformer(
            self.model_name,
            device,
            dtype,
            self.max_seq_length,
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
    def client(self) -> SentenceTransformer:
        """The underlying sentence-transformers model."""
        return self._client

    @property
    def tokenizer(self) -> Any:
        """The model's tokenizer."""
        return self.client.tokenizer

    @property
    def model_identity(self) -> str:
        """The Hub id, or the absolute path of a local model, as stores record it."""
        return model_identity(self.model_name)

    def fingerprint(self) -> dict[str, str | int]:
        """Describe the model as a store records it (`FingerprintedEmbeddings`)."""
        fingerprint: dict[str, str | int] = {
            "model": self.model_identity,
            "dimension": self.dimension,
            "query_prefix": QUERY_PREFIX,
            "passage_prefix": PASSAGE_PREFIX,
        }
        revision = model_revision(self.model_name, self.model_kwargs)
        if revision:
            fingerprint["revision"] = revision
        return fingerprint

    @property
    def dimension(self) -> int:
        """Length of each embedding."""
        dimension = self._client.get_embedding_dimension()
        if dimension is None:
            return len(self.embed_query("dimension"))
        return int(dimension)

    @property
    def max_tokens(self) -> int:
        """The number of tokens (prefix included) beyond which an input is truncated."""
        length = self._client.max_seq_length
        return int(length) if length is not None else DEFAULT_MAX_SEQ_LENGTH

    def count_tokens(self, text: str, *, query: bool = True) -> int:
        """Return the number of tokens of `text` with its prefix, special tokens included."""
        return self.token_counts([text], query=query)[0]

    def token_counts(self, texts: list[str], *, query: bool = True) -> list[int]:
        """Return `count_tokens` of each text, tokenized in one call."""
        if not texts:
            return []
        prefix = QUERY_PREFIX if query else PASSAGE_PREFIX
        with counting_tokens(self._client.tokenizer):
            encoded = self._client.tokenizer([prefix + text for text in texts], truncation=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def _batches(self, prefixed: list[str]) -> list[list[int]]:
        """Indexes of `prefixed` per forward pass: by `token_budget`, else by `batch_size`."""
        if self._token_budget is None or len(prefixed) == 1:
            return [list(range(len(prefixed)))]  # sentence-transformers batches by count
        with counting_tokens(self._client.tokenizer):
            encoded = self._client.tokenizer(prefixed, truncation=True, max_length=self.max_tokens)
        lengths = [len(ids) for ids in encoded["input_ids"]]
        max_count = self.batch_size  # only a batch size the caller gave caps the count
        return token_batches(lengths, self._token_budget, max_count)

    def _embed(self, texts: list[str], prefix: str) -> list[list[float]]:
        if not texts:
            return []
        import torch

        prefixed = [prefix + text for text in texts]
        with tokenizer_lock(self._client.tokenizer):  # see passages.counting_tokens
            batches = self._batches(prefixed)
            parts = [
                self._client.encode(
                    [prefixed[i] for i in batch],
                    batch_size=len(batch) if self._token_budget else self._batch_size,
                    convert_to_tensor=True,
                    show_progress_bar=False,
                )
                for batch in batches
            ]
        order = torch.tensor([i for batch in batches for i in batch])
        vectors = parts[0].new_empty(len(texts), parts[0].shape[-1])
        vectors[order] = torch.cat(parts)
        # Normalize in fp32: a bf16 or fp16 model's own Normalize layer leaves norms of ~0.998.
        vectors = torch.nn.functional.normalize(vectors.float(), dim=-1)
        return vectors.cpu().tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed skill texts as `passage: <text>`, L2-normalized."""
        return self._embed(check_texts(texts, "texts"), PASSAGE_PREFIX)

    def embed_query(self, text: str) -> list[float]:
        """Embed a course text as `query: <text>`, L2-normalized."""
        return self._embed([check_text(text, "query")], QUERY_PREFIX)[0]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """Embed many course texts as `query: <text>` in batches, L2-normalized."""
        return self._embed(check_texts(texts, "texts"), QUERY_PREFIX)


def embed_queries(embeddings: Embeddings, texts: list[str]) -> list[list[float]]:
    """Embed course texts as queries: in batches where the embeddings can, one by one otherwise."""
    if isinstance(embeddings, QueryBatchEmbeddings):
        return embeddings.embed_queries(texts)  # batched, with the query prefix
    return [embeddings.embed_query(text) for text in texts]  # embed_documents may differ
