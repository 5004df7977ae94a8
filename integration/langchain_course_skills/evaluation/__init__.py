"""Evaluation of skill retrieval: gold sets, ranking metrics, the pipeline runner and charts."""

from langchain_course_skills.evaluation.chart import plot_metrics
from langchain_course_skills.evaluation.gold import (
    GoldQuery,
    GoldSetError,
    load_gold,
    parse_gold,
    resolve_relevant,
    skill_labels,
)
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
from langchain_course_skills.evaluation.runner import (
    REPORT_METRICS,
    ConfigurationResult,
    EvaluationResult,
    QueryResult,
    RetrievedSkill,
    evaluate,
    evaluation_collection_name,
    metrics_table,
    reranking_retriever,
    sync_evaluation_store,
)

__all__ = [
    "REPORT_METRICS",
    "ConfigurationResult",
    "EvaluationResult",
    "GoldQuery",
    "GoldSetError",
    "QueryResult",
    "RetrievedSkill",
    "accuracy_at_k",
    "compute_metrics",
    "evaluate",
    "evaluation_collection_name",
    "load_gold",
    "map_at_k",
    "metrics_table",
    "mrr_at_k",
    "ndcg_at_k",
    "parse_gold",
    "plot_metrics",
    "precision_at_k",
    "query_metrics",
    "r_precision_at_k",
    "recall_at_k",
    "reranking_retriever",
    "resolve_relevant",
    "skill_labels",
    "sync_evaluation_store",
]
