"""Evaluation of skill retrieval: ranking metrics over plain dicts of query ids and doc ids."""

from langchain_course_skills.evaluation.metrics import (
    accuracy_at_k,
    compute_metrics,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    query_metrics,
    r_precision_at_k,
    recall_at_k,
)

__all__ = [
    "accuracy_at_k",
    "compute_metrics",
    "map_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "precision_at_k",
    "query_metrics",
    "r_precision_at_k",
    "recall_at_k",
]
