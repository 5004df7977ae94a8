"""Fine-tune the bi-encoder and the reranker on a taxonomy and alignment data, on a CPU.

The names below are imported on first use: the configurations load without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from langchain_course_skills._lazy import lazy_exports

if TYPE_CHECKING:
    from langchain_course_skills.finetune.bi_encoder import contrastive_loss, finetune_bi_encoder
    from langchain_course_skills.finetune.config import BiEncoderConfig, RerankerConfig
    from langchain_course_skills.finetune.pairs import (
        TrainingDataError,
        TrainingExample,
        read_alignments,
        select_examples,
        split_holdout,
        taxonomy_examples,
    )
    from langchain_course_skills.finetune.report import FinetuneResult
    from langchain_course_skills.finetune.reranker import bce_loss, finetune_reranker

_MODULES = {
    "BiEncoderConfig": "config",
    "FinetuneResult": "report",
    "RerankerConfig": "config",
    "TrainingDataError": "pairs",  # defined in errors, re-exported by pairs
    "TrainingExample": "pairs",
    "bce_loss": "reranker",
    "contrastive_loss": "bi_encoder",
    "finetune_bi_encoder": "bi_encoder",
    "finetune_reranker": "reranker",
    "read_alignments": "pairs",
    "select_examples": "pairs",
    "split_holdout": "pairs",
    "taxonomy_examples": "pairs",
}

__all__ = [
    "BiEncoderConfig",
    "FinetuneResult",
    "RerankerConfig",
    "TrainingDataError",
    "TrainingExample",
    "bce_loss",
    "contrastive_loss",
    "finetune_bi_encoder",
    "finetune_reranker",
    "read_alignments",
    "select_examples",
    "split_holdout",
    "taxonomy_examples",
]

__getattr__, __dir__ = lazy_exports(__name__, _MODULES)
