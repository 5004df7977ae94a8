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
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from langchain_course_skills.compressors import SkillReranker
from langchain_course_skills.cross_encoders import SkillCrossEncoder
from langchain_course_skills.embeddings import E5Embeddings
from langchain_course_skills.evaluation.exact import ExactSearch
from langchain_course_skills.finetune._prepare import (
    ENCODE_BATCH,
    Metrics,
    finish,
    prepare_run,
    train,
)
from langchain_course_skills.finetune.config import RerankerConfig
from langchain_course_skills.models.loading import load_cross_encoder

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from sentence_transformers import CrossEncoder

    from langchain_course_skills.evaluation.gold import GoldSet
    from langchain_course_skills.finetune.pairs import TrainingExample
    from langchain_course_skills.finetune.report import FinetuneResult

logger = logging.getLogger(__name__)

SCORE_BATCH = 64  # pairs per forward pass when scoring for the evaluation
_ST_CONFIG = "config_sentence_transformers.json"  # records the model type of a saved model


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
    from sentence_transformers.util import batch_to_device

    pairs: list[tuple[str, str]] = []
    labels: list[float] = []
    for example in batch:
        pairs.append((example.query, example.positive))
        labels.append(1.0)
        pairs.extend((example.query, negative) for negative in example.negatives)
        labels.extend(0.0 for _ in example.negatives)
    features = batch_to_device(model.preprocess(pairs), model.device)
    logits = model(features)["scores"].float().reshape(len(pairs), -1)[:, 0]
    target = torch.tensor(labels, device=logits.device)
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, target)


def _rerank_metrics(
    search: ExactSearch, gold_sets: Mapping[str, GoldSet], folder: Path, config: RerankerConfig
) -> dict[str, dict[str, float]]:
    """Rerank the retriever's top k with the cross-encoder in `folder`, as users load it."""
    if not gold_sets:
        return {}
    encoder = SkillCrossEncoder(
        model_name=str(folder),
        device=config.device,
        precision=config.precision,
        max_length=config.max_length,
        batch_size=SCORE_BATCH,
    )
    reranker = SkillReranker(cross_encoder=encoder, top_n=config.eval_k)
    return search.evaluate(gold_sets, k=config.eval_k, reranker=reranker)


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
    embeddings = E5Embeddings(
        model_name=str(retriever),
        device=config.device,
        precision=config.precision,
        batch_size=ENCODE_BATCH,
    )
    # The retriever embeds the skills once, for mining and for the evaluation's candidates.
    search = ExactSearch(embeddings, documents)
    fresh_head = not _is_cross_encoder(str(base_model))
    torch.manual_seed(config.seed)  # the fresh head's initial weights
    model = load_cross_encoder(
        str(base_model), run.device, torch.float32, config.max_length, require_head=not fresh_head
    )
    if fresh_head:
        logger.warning(
            "%s is a bi-encoder: the cross-encoder starts from its encoder weights with a "
            "fresh classification head",
            base_model,
        )
    run.extra.setdefault("fresh_head", fresh_head)  # a resume keeps the stored value

    def before() -> Metrics:
        if not run.gold_sets:
            return {}
        with tempfile.TemporaryDirectory() as folder:  # scored as the fine-tuned one will be
            model.save(folder, create_model_card=False)
            base = _rerank_metrics(search, run.gold_sets, Path(folder), config)
        retrieved = search.evaluate(run.gold_sets, k=config.eval_k)
        return {
            name: {"retriever": retrieved[name], "base reranker": base[name]}
            for name in run.gold_sets
        }

    result = train(
        run,
        config,
        model,
        lambda batch: bce_loss(model, batch),
        before=before,
        miner=search,
        show_progress=show_progress,
        stop_after=stop_after,
        description="fine-tuning the reranker",
    )
    if not result.completed:
        return result
    out = run.workspace.output_dir
    model.save(str(out), create_model_card=False)
    notes = []
    if run.extra.get("fresh_head"):
        notes.append(
            f"`{base_model}` is a bi-encoder: training started from its encoder weights with a "
            "fresh, randomly initialised one-logit classification head, so the base reranker's "
            "scores carry no relevance signal."
        )
    return finish(
        run,
        result,
        documents,
        after=_rerank_metrics(search, run.gold_sets, out, config),
        label="fine-tuned reranker",
        title=f"{out.name}: reranking the top {config.eval_k} of {Path(str(retriever)).name}",
        kind="cross-encoder reranker (sentence-transformers)",
        base_model=str(base_model),
        config={**config.model_dump(mode="json"), "retriever": str(retriever)},
        sources=sources,
        usage=(
            "from langchain_course_skills import SkillCrossEncoder\n\n"
            f'reranker = SkillCrossEncoder(model_name="{out}")\n'
            "# scores (course text, skill text) pairs as they are, without prefixes"
        ),
        notes=notes,
    )
