"""Exact retrieval over the taxonomy, for mining hard negatives and for before/after metrics.

Fine-tuning compares models on the same footing: every skill passage and every query is
embedded with its e5 prefix, and the top k skills by cosine similarity are found exactly
(a matrix product over normalized vectors), with no vector store in between.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch

from langchain_course_skills.embeddings import PASSAGE_PREFIX, QUERY_PREFIX
from langchain_course_skills.errors import TrainingDataError
from langchain_course_skills.evaluation.metrics import compute_metrics
from langchain_course_skills.finetune._training import autocast
from langchain_course_skills.finetune.pairs import TrainingExample

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from sentence_transformers import SentenceTransformer

    from langchain_course_skills.evaluation.gold import GoldSet

ENCODE_BATCH = 64  # texts per forward pass when embedding for mining and evaluation
_SEARCH_CHUNK = 1024  # queries per similarity matrix block (1024 x 13,896 floats = 57 MB)


def encode(
    model: SentenceTransformer,
    texts: Sequence[str],
    prefix: str,
    *,
    device: str,
    dtype: torch.dtype,
) -> torch.Tensor:
    """Embed `prefix + text` for each text, L2-normalized in fp32, without gradients."""
    was_training = model.training
    model.eval()
    with torch.no_grad(), autocast(device, dtype):
        vectors = model.encode(
            [prefix + text for text in texts],
            batch_size=ENCODE_BATCH,
            convert_to_tensor=True,
            show_progress_bar=False,
        )
    model.train(was_training)
    return torch.nn.functional.normalize(vectors.float(), dim=-1)


def top_k(queries: torch.Tensor, passages: torch.Tensor, k: int) -> list[list[int]]:
    """Return the indices of the `k` most similar passages for each query, best first."""
    k = min(k, passages.shape[0])
    ranked: list[list[int]] = []
    for start in range(0, queries.shape[0], _SEARCH_CHUNK):
        scores = queries[start : start + _SEARCH_CHUNK] @ passages.T
        ranked.extend(torch.topk(scores, k, dim=1).indices.tolist())
    return ranked


def passage_vectors(
    model: SentenceTransformer, documents: Sequence[Document], *, device: str, dtype: torch.dtype
) -> torch.Tensor:
    """Embed every skill passage as `passage: <text>`."""
    return encode(
        model, [doc.page_content for doc in documents], PASSAGE_PREFIX, device=device, dtype=dtype
    )


def retrieval_metrics(
    model: SentenceTransformer,
    documents: Sequence[Document],
    gold_sets: Mapping[str, GoldSet],
    *,
    k: int,
    device: str,
    dtype: torch.dtype,
    passages: torch.Tensor | None = None,
) -> dict[str, dict[str, float]]:
    """Score exact top-k retrieval over all skills on each gold set.

    Args:
        model: The bi-encoder.
        documents: The skills.
        gold_sets: The evaluation sets.
        k: Skills retrieved per query.
        device: The model's device.
        dtype: Autocast dtype (fp32: none).
        passages: The skills' vectors under `model`, if already computed.

    Returns:
        Gold set name -> metric name -> value (`compute_metrics`' defaults).
    """
    if not gold_sets:
        return {}
    if passages is None:
        passages = passage_vectors(model, documents, device=device, dtype=dtype)
    ids = [str(doc.id) for doc in documents]
    results: dict[str, dict[str, float]] = {}
    for name, gold in gold_sets.items():
        query_ids = list(gold.queries)
        vectors = encode(
            model, [gold.queries[q] for q in query_ids], QUERY_PREFIX, device=device, dtype=dtype
        )
        ranked = top_k(vectors, passages, k)
        run = {q: [ids[i] for i in row] for q, row in zip(query_ids, ranked)}
        results[name] = compute_metrics(run, gold.relevant)
    return results


def candidates_for(
    examples: Sequence[TrainingExample],
    model: SentenceTransformer,
    documents: Sequence[Document],
    depth: int,
    *,
    device: str,
    dtype: torch.dtype,
    passages: torch.Tensor | None = None,
) -> dict[str, list[int]]:
    """Return query text -> indices of its top `depth` skills under `model`.

    `passages` are the skills' vectors under `model`, if already computed.
    """
    queries = list(dict.fromkeys(example.query for example in examples))
    if passages is None:
        passages = passage_vectors(model, documents, device=device, dtype=dtype)
    vectors = encode(model, queries, QUERY_PREFIX, device=device, dtype=dtype)
    return dict(zip(queries, top_k(vectors, passages, depth)))


def mine_negatives(
    examples: Sequence[TrainingExample],
    candidates: Mapping[str, list[int]],
    documents: Sequence[Document],
    *,
    count: int,
    ranks: tuple[int, int],
    seed: int,
) -> list[TrainingExample]:
    """Top up each example's hard negatives to `count` from its query's candidates.

    Negatives are drawn at random from the candidates at `ranks` (1-based, inclusive) that are
    not relevant to the query and whose text differs from the positive's.

    Args:
        examples: The examples; given negatives are kept (up to `count`).
        candidates: Query text -> skill indices, best first (`candidates_for`).
        documents: The skills the indices point into.
        count: Hard negatives per example.
        ranks: The candidate ranks to draw from.
        seed: Seed of the draw.
    """
    low, high = ranks
    if not 1 <= low <= high:
        msg = f"negative ranks must satisfy 1 <= low <= high, got {ranks}"
        raise TrainingDataError(msg)
    rng = random.Random(seed)
    mined: list[TrainingExample] = []
    for example in examples:
        texts = list(example.negatives[:count])
        ids = list(example.negative_ids[:count])
        pool = [
            documents[i]
            for i in candidates.get(example.query, [])[low - 1 : high]
            if str(documents[i].id) not in example.relevant_ids
            and str(documents[i].id) not in ids
            and documents[i].page_content != example.positive
        ]
        for doc in rng.sample(pool, min(count - len(texts), len(pool))):
            texts.append(doc.page_content)
            ids.append(str(doc.id))
        mined.append(example.with_negatives(texts, ids))
    return mined
