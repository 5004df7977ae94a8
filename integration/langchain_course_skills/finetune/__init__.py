"""Fine-tune the bi-encoder and the reranker on a taxonomy and alignment data, on a CPU."""

from langchain_course_skills.finetune.bi_encoder import (
    BiEncoderConfig,
    contrastive_loss,
    finetune_bi_encoder,
)
from langchain_course_skills.finetune.pairs import (
    TrainingDataError,
    TrainingExample,
    read_alignments,
    select_examples,
    split_holdout,
    taxonomy_examples,
)
from langchain_course_skills.finetune.report import FinetuneResult
from langchain_course_skills.finetune.reranker import (
    RerankerConfig,
    bce_loss,
    finetune_reranker,
)

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
