"""Fine-tune a cross-encoder reranker on the same data, so that `SkillCrossEncoder` loads it.

Each example gives one positive (query, skill) pair, labelled 1, and its hard negatives,
labelled 0: the given ones topped up from a bi-encoder's candidates (the retriever the
reranker will sit behind). The loss is binary cross-entropy on the logit, which
`SkillCrossEncoder.score` turns into sigmoid(logit). Pairs carry no prefixes, exactly as
`SkillCrossEncoder` scores them. A bi-encoder folder as the base (there is no cross-encoder
offline) gives a cross-encoder with that encoder's weights and a fresh classification head.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from langchain_course_skills._models import load_cross_encoder
from langchain_course_skills.cross_encoders import SkillCrossEncoder
from langchain_course_skills.embeddings import QUERY_PREFIX, E5Embeddings
from langchain_course_skills.evaluation.chart import plot_metric_panels
from langchain_course_skills.evaluation.metrics import compute_metrics
from langchain_course_skills.finetune._prepare import (
    data_summary,
    mine_hard_negatives,
    prepare_run,
    result_of,
    save_start,
)
from langchain_course_skills.finetune._training import (
    EXAMPLES_FILE,
    autocast,
    resolve_compute,
    train_loop,
)
from langchain_course_skills.finetune.config import RerankerConfig
from langchain_course_skills.finetune.report import CHART_FILE, FinetuneResult, write_report
from langchain_course_skills.finetune.scoring import (
    encode,
    passage_vectors,
    top_k,
)

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from sentence_transformers import CrossEncoder, SentenceTransformer

    from langchain_course_skills.evaluation.gold import GoldSet
    from langchain_course_skills.finetune.pairs import TrainingExample

logger = logging.getLogger(__name__)

SCORE_BATCH = 64  # pairs per forward pass when scoring for the evaluation
_ST_CONFIG = "config_sentence_transformers.json"  # records the model type of a saved model

Scorer = Callable[[list[tuple[str, str]]], list[float]]


def _is_cross_encoder(model_name: str) -> bool:
    """Whether a local folder is a cross-encoder; Hub ids are taken to be one."""
    folder = Path(model_name).expanduser()
    if not folder.is_dir():
        return True
    config = folder / _ST_CONFIG
    if (folder / "modules.json").is_file():
        if not config.is_file():
            return False
        return json.loads(config.read_text(encoding="utf-8")).get("model_type") == "CrossEncoder"
    return True  # a plain transformers sequence-classification folder


def bce_loss(model: CrossEncoder, batch: list[TrainingExample]) -> torch.Tensor:
    """Binary cross-entropy of the logits of each positive (1) and hard negative (0) pair."""
    pairs: list[tuple[str, str]] = []
    labels: list[float] = []
    for example in batch:
        pairs.append((example.query, example.positive))
        labels.append(1.0)
        pairs.extend((example.query, negative) for negative in example.negatives)
        labels.extend(0.0 for _ in example.negatives)
    features = model.preprocess(pairs)
    device = model.device
    features = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}
    logits = model(features)["scores"].float().reshape(len(pairs), -1)[:, 0]
    target = torch.tensor(labels, device=logits.device)
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, target)


def _predictor(model: CrossEncoder, device: str, dtype: torch.dtype) -> Scorer:
    """Score pairs with the in-memory model (logits: the same order as sigmoid scores)."""

    def score(pairs: list[tuple[str, str]]) -> list[float]:
        with torch.no_grad(), autocast(device, dtype):
            logits = model.predict(
                pairs,
                batch_size=SCORE_BATCH,
                activation_fn=torch.nn.Identity(),
                convert_to_tensor=True,
                show_progress_bar=False,
            )
        return [float(x) for x in logits.float().reshape(len(pairs), -1)[:, 0]]

    return score


def _gold_candidates(
    retriever: SentenceTransformer,
    passages: torch.Tensor | None,
    gold_sets: Mapping[str, GoldSet],
    k: int,
    device: str,
) -> dict[str, dict[str, list[int]]]:
    """Gold set -> query id -> the retriever's top k skill indices (`passages`: its skills)."""
    if not gold_sets or passages is None:
        return {}
    result: dict[str, dict[str, list[int]]] = {}
    for name, gold in gold_sets.items():
        ids = list(gold.queries)
        texts = [gold.queries[q] for q in ids]
        vectors = encode(retriever, texts, QUERY_PREFIX, device=device, dtype=torch.float32)
        result[name] = dict(zip(ids, top_k(vectors, passages, k)))
    return result


def rerank_metrics(
    score: Scorer | None,
    documents: Sequence[Document],
    gold: GoldSet,
    candidates: Mapping[str, list[int]],
) -> dict[str, float]:
    """Metrics of the candidates reordered by `score` (None keeps the retriever's order)."""
    run: dict[str, list[str]] = {}
    for query_id, indices in candidates.items():
        if score is not None:
            pairs = [(gold.queries[query_id], documents[i].page_content) for i in indices]
            scores = score(pairs)
            indices = [i for _, i in sorted(zip(scores, indices), key=lambda p: -p[0])]
        run[query_id] = [str(documents[i].id) for i in indices]
    return compute_metrics(run, gold.relevant)


def finetune_reranker(
    base_model: str | Path,
    output_dir: str | Path,
    documents: Sequence[Document],
    examples: Sequence[TrainingExample] | None = None,
    *,
    retriever: str | Path,
    config: RerankerConfig | None = None,
    eval_files: Mapping[str, str | Path] | None = None,
    sources: Mapping[str, str] | None = None,
    resume: bool = False,
    show_progress: bool = True,
    stop_after: int | None = None,
) -> FinetuneResult:
    """Fine-tune a cross-encoder on course/skill pairs and evaluate it behind a retriever.

    The output folder becomes a sentence-transformers cross-encoder that
    `SkillCrossEncoder(model_name=...)` and `course-skills search --rerank --reranker ...` load,
    with a README, `finetune.json`, `training_data.jsonl` and `evaluation.png`. The evaluation
    retrieves `config.eval_k` candidates per query with `retriever` and compares their order
    as retrieved, reranked by the base model and reranked by the fine-tuned one.

    Example:
        >>> result = finetune_reranker("./minilm", "reranker", docs, retriever="./minilm-esco")
        >>> sorted(result.metrics["held-out"])
        ['base reranker', 'fine-tuned reranker', 'retriever']

    Args:
        base_model: A cross-encoder (local folder or Hub id), or a bi-encoder folder whose
            encoder weights start a cross-encoder with a fresh one-logit head.
        output_dir: A new or empty folder; with `resume`, the folder of the stopped run.
        documents: The taxonomy's skills.
        examples: Training examples; None derives them from `documents`.
        retriever: The bi-encoder (loaded with `E5Embeddings`) that mines negatives and
            retrieves the candidates of the evaluation.
        config: The parameters.
        eval_files: Name -> gold JSONL file; None holds out `config.holdout` of the queries.
        sources: What the data came from, recorded in the README.
        resume: Continue the stopped or interrupted run in `output_dir`.
        show_progress: Show a progress bar.
        stop_after: Stop after this many steps (with a checkpoint); resume later.

    Raises:
        TrainingDataError: For empty or malformed data, a non-empty `output_dir` (without
            `resume`), or a resume with other parameters or data.
        GoldSetError: For an evaluation file that is malformed or does not fit the taxonomy.
        ModelLoadError: If the base model or the retriever cannot be loaded.
    """
    config = config or RerankerConfig()
    run = prepare_run(output_dir, documents, examples, config, eval_files, resume=resume)
    device, dtype = resolve_compute(config)
    embeddings = E5Embeddings(
        model_name=str(retriever), device=config.device, precision=config.precision
    )
    fresh_head = not _is_cross_encoder(str(base_model))
    torch.manual_seed(config.seed)  # the fresh head's initial weights
    model = load_cross_encoder(
        str(base_model), device, torch.float32, config.max_length, require_head=not fresh_head
    )
    if fresh_head:
        logger.warning(
            "%s is a bi-encoder: the cross-encoder starts from its encoder weights with a "
            "fresh classification head",
            base_model,
        )
    retriever_model = embeddings.client
    retriever_device = str(retriever_model.device)
    # The retriever embeds the skills once, for the gold sets' candidates and for mining.
    needed = run.gold_sets or (config.hard_negatives and not run.resumed)
    passages = (
        passage_vectors(retriever_model, documents, device=retriever_device, dtype=torch.float32)
        if needed
        else None
    )
    gold_candidates = _gold_candidates(
        retriever_model, passages, run.gold_sets, config.eval_k, retriever_device
    )
    if not run.resumed:
        run.before = {
            name: {
                "retriever": rerank_metrics(None, documents, gold, gold_candidates[name]),
                "base reranker": rerank_metrics(
                    _predictor(model, device, dtype), documents, gold, gold_candidates[name]
                ),
            }
            for name, gold in run.gold_sets.items()
        }
        if config.hard_negatives:
            mine_hard_negatives(
                run,
                config,
                documents,
                retriever_model,
                passages,
                device=retriever_device,
                dtype=torch.float32,
            )
        run.extra = {"fresh_head": fresh_head}
        save_start(run, config)
    outcome = train_loop(
        model,
        run.train,
        [len(e.query) for e in run.train],
        config,
        lambda batch: bce_loss(model, batch),
        run.workspace,
        device=device,
        dtype=dtype,
        show_progress=show_progress,
        stop_after=stop_after,
        description="fine-tuning the reranker",
    )
    out = run.workspace.output_dir
    result = result_of(run, outcome)
    if not outcome.completed:
        return result
    model.save(str(out), create_model_card=False)
    shutil.copy(run.workspace.checkpoint_dir / EXAMPLES_FILE, out / EXAMPLES_FILE)
    tuned = SkillCrossEncoder(model_name=str(out), device=config.device, precision=config.precision)
    before = run.before or {}
    result.metrics = {
        name: {
            **before[name],
            "fine-tuned reranker": rerank_metrics(
                tuned.score, documents, gold, gold_candidates[name]
            ),
        }
        for name, gold in run.gold_sets.items()
        if name in before
    }
    title = f"{out.name}: reranking the top {config.eval_k} of {Path(str(retriever)).name}"
    if result.metrics:
        result.chart = plot_metric_panels(result.metrics, out / CHART_FILE, title=title)
    notes = []
    if run.extra.get("fresh_head"):
        notes.append(
            f"`{base_model}` is a bi-encoder: training started from its encoder weights with a "
            "fresh, randomly initialised one-logit classification head, so the base reranker's "
            "scores carry no relevance signal."
        )
    write_report(
        result,
        kind="cross-encoder reranker (sentence-transformers)",
        base_model=str(base_model),
        config={
            **config.model_dump(mode="json"),
            "retriever": str(retriever),
            "compute": f"{device}, {dtype}",
        },
        data=data_summary(run, documents, sources),
        usage=(
            "from langchain_course_skills import SkillCrossEncoder\n\n"
            f'reranker = SkillCrossEncoder(model_name="{out}")\n'
            "# scores (course text, skill text) pairs as they are, without prefixes"
        ),
        notes=notes,
    )
    shutil.rmtree(run.workspace.checkpoint_dir)
    return result
