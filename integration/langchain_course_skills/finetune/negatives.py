"""Hard negatives: skills that a retriever ranks high for a query but are not relevant to it."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from langchain_course_skills.errors import TrainingDataError

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from langchain_course_skills.evaluation.exact import ExactSearch
    from langchain_course_skills.finetune.config import TrainingConfig
    from langchain_course_skills.finetune.pairs import TrainingExample


def mine_hard_negatives(
    examples: Sequence[TrainingExample], search: ExactSearch, config: TrainingConfig
) -> list[TrainingExample]:
    """Top up the examples' hard negatives from `search`'s ranks `config.negative_ranks`.

    Each distinct query is searched once, to the depth of the lowest rank drawn from.
    """
    queries = list(dict.fromkeys(example.query for example in examples))
    candidates = dict(zip(queries, search.top_k(queries, config.negative_ranks[1])))
    return mine_negatives(
        examples,
        candidates,
        search.documents,
        count=config.hard_negatives,
        ranks=config.negative_ranks,
        seed=config.seed,
    )


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
        candidates: Query text -> skill indices, best first (`ExactSearch.top_k`).
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
