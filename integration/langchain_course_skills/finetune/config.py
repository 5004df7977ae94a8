"""Parameters of the two trainers: plain pydantic models, importable without torch."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from langchain_course_skills.cross_encoders import DEFAULT_MAX_LENGTH
from langchain_course_skills.models.options import Precision

CHECKPOINT_DIR = "checkpoint"  # inside the output folder, removed once training completes

# Parameters that change what a resumed run computes; a resume must repeat them.
_RESUME_KEYS = (
    "epochs",
    "batch_size",
    "learning_rate",
    "warmup_ratio",
    "weight_decay",
    "hard_negatives",
    "negative_ranks",
    "max_pairs",
    "holdout",
    "seed",
)


class TrainingConfig(BaseModel):
    """Parameters shared by the bi-encoder and the cross-encoder trainers."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(default=1, gt=0)
    """Passes over the training examples."""
    batch_size: int = Field(default=32, gt=0)
    """Examples per step (each with its positive and hard negatives)."""
    learning_rate: float = Field(default=5e-5, gt=0)
    """Peak AdamW learning rate, reached after the warm-up, then decayed linearly to 0."""
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1)
    """Share of the steps with a linearly rising learning rate."""
    weight_decay: float = Field(default=0.01, ge=0)
    """AdamW weight decay."""
    max_grad_norm: float = Field(default=1.0, gt=0)
    """Gradients are clipped to this norm."""
    hard_negatives: int = Field(default=3, ge=0)
    """Hard negatives per example: the given ones, topped up from the model's candidates."""
    negative_ranks: tuple[int, int] = (3, 50)
    """Mined negatives are drawn from these candidate ranks (1-based, inclusive), positives
    excluded; skipping the very top avoids near-duplicates of the positive."""
    max_pairs: int | None = Field(default=None, gt=0)
    """At most this many training examples (alignment data first, then taxonomy pairs spread
    evenly over the skills); None uses all."""
    holdout: float = Field(default=0.05, ge=0, lt=1)
    """Without evaluation files: share of the training queries held out for the evaluation
    (at most 1,000); 0 skips the evaluation."""
    seed: int = 42
    """Seed of sampling, mining, shuffling and dropout."""
    device: str = "auto"
    """Torch device; "auto" picks cuda, then mps, then cpu."""
    precision: Precision = "auto"
    """Compute precision: bf16 autocast on CPUs with native bf16 and on GPUs that have it,
    fp16 with loss scaling on other GPUs, else fp32. Weights stay fp32."""
    checkpoint_steps: int = Field(default=200, gt=0)
    """Save a checkpoint (for `resume`) every this many steps."""
    eval_k: int = Field(default=30, gt=0)
    """Candidates retrieved per query in the evaluation, as in the model card."""

    def resume_fingerprint(self) -> dict[str, Any]:
        """The parameters a resumed run must share with the run that wrote the checkpoint."""
        values = self.model_dump(mode="json")
        return {key: values[key] for key in _RESUME_KEYS if key in values}


class BiEncoderConfig(TrainingConfig):
    """Parameters of bi-encoder fine-tuning.

    The defaults are the best recipe measured on the Decorte validation sets (docs/finetuning.md):
    in-batch negatives only and temperature 0.05 beat the model card's three mined hard
    negatives and temperature 0.02 on every metric, and train about four times faster.

    Example:
        >>> BiEncoderConfig(max_pairs=30_000, learning_rate=5e-5).temperature
        0.05
    """

    hard_negatives: int = Field(default=0, ge=0)
    """Hard negatives per example: the given ones, topped up from the model's candidates; 0
    trains on in-batch negatives only (each example's positive is every other one's negative)."""
    temperature: float = Field(default=0.05, gt=0)
    """Similarities are divided by this before the softmax (scale = 1 / temperature);
    sentence-transformers' 0.05 measured best; the model card used 0.02 for e5."""
    query_max_length: int = Field(default=512, gt=0)
    """Queries are truncated to this many tokens (the card: 512), at most the base model's
    own limit (all-MiniLM-L6-v2: 256)."""
    passage_max_length: int = Field(default=64, gt=0)
    """Passages are truncated to this many tokens (the card: 64)."""


class RerankerConfig(TrainingConfig):
    """Parameters of cross-encoder fine-tuning.

    Example:
        >>> RerankerConfig().negative_ranks
        (2, 30)
    """

    batch_size: int = Field(default=16, gt=0)
    """Examples per step; each gives 1 + hard_negatives pairs."""
    learning_rate: float = Field(default=3e-5, gt=0)
    """Peak AdamW learning rate."""
    negative_ranks: tuple[int, int] = (2, 30)
    """Negatives come from these ranks of the retriever's candidates: the ones a reranker
    must learn to push below the positive."""
    max_length: int = Field(default=DEFAULT_MAX_LENGTH, gt=0)
    """(query, skill) pairs are truncated to this many tokens."""
