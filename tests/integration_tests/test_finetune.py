"""Fine-tuning the bi-encoder and the reranker: data, training, resume, outputs and errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from langchain_core.documents import Document
from sentence_transformers import SentenceTransformer

from langchain_course_skills import SkillCrossEncoder
from langchain_course_skills.finetune import (
    BiEncoderConfig,
    RerankerConfig,
    TrainingExample,
    contrastive_loss,
    finetune_bi_encoder,
    finetune_reranker,
)

# 16 examples in batches of 8 for 3 epochs: 6 steps; negatives from the top 10 are hard.
LEARN = {
    "learning_rate": 1e-4,
    "batch_size": 8,
    "max_pairs": 16,
    "epochs": 3,
    "holdout": 0,
    "hard_negatives": 3,
    "negative_ranks": (1, 10),
    "precision": "fp32",
}


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _loss_on(model_path: Path | str, examples_file: Path, config: BiEncoderConfig) -> float:
    """The contrastive loss of a saved model on its training examples, without dropout."""
    examples = [TrainingExample.from_json(json.loads(line)) for line in examples_file.open()]
    model = SentenceTransformer(str(model_path)).eval()
    with torch.no_grad():
        return float(contrastive_loss(model, examples, config))


def test_bi_encoder_training_lowers_the_loss(
    tmp_path: Path, minilm_path: Path, esco_skills: list[Document]
) -> None:
    config = BiEncoderConfig(**LEARN)

    result = finetune_bi_encoder(
        minilm_path, tmp_path, esco_skills, config=config, show_progress=False
    )

    data = tmp_path / "training_data.jsonl"
    assert result.completed and result.steps == 6
    assert _loss_on(tmp_path, data, config) < _loss_on(minilm_path, data, config)
    assert _mean(result.losses[-2:]) < _mean(result.losses[:2])


def test_reranker_from_a_bi_encoder_gets_a_fresh_head_and_learns(
    tmp_path: Path, minilm_path: Path, esco_skills: list[Document]
) -> None:
    config = RerankerConfig(**LEARN)

    result = finetune_reranker(
        minilm_path,
        tmp_path,
        esco_skills,
        retriever=minilm_path,
        config=config,
        show_progress=False,
    )

    assert _mean(result.losses[-2:]) < _mean(result.losses[:2])
    assert "fresh, randomly initialised" in (tmp_path / "README.md").read_text()
    assert len(SkillCrossEncoder(model_name=str(tmp_path)).score([("a", "b")])) == 1
