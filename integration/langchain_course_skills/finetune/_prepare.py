"""The skeleton both trainers share; a trainer only loads its model and says what differs.

run = prepare_run(...)       # data, evaluation sets, the resume check, device; no model yet
# the trainer loads its model and an `ExactSearch` over the skills
result = train(run, ...)     # metrics before, hard negatives, the loop with checkpoints
if result.completed:
# the trainer saves its model and evaluates it as its users will load it
finish(run, result, ...)  # metrics before and after, chart, README; checkpoint removed
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_course_skills.errors import TrainingDataError
from langchain_course_skills.evaluation.chart import plot_metric_panels
from langchain_course_skills.evaluation.gold import GoldSet, load_gold_set
from langchain_course_skills.finetune._training import (
    EXAMPLES_FILE,
    HELDOUT_FILE,
    TrainingConfig,
    Workspace,
    check_resume,
    data_fingerprint,
    prepare_workspace,
    read_examples,
    resolve_compute,
    train_loop,
    write_examples,
)
from langchain_course_skills.finetune.negatives import mine_hard_negatives
from langchain_course_skills.finetune.pairs import (
    TrainingExample,
    holdout_gold,
    select_examples,
    split_holdout,
    taxonomy_examples,
)
from langchain_course_skills.finetune.report import CHART_FILE, FinetuneResult, write_report

if TYPE_CHECKING:
    import torch
    from langchain_core.documents import Document

    from langchain_course_skills.evaluation.exact import ExactSearch

HELDOUT_NAME = "held-out"  # evaluation set name of the held-out training queries
ENCODE_BATCH = 64  # texts per forward pass when embedding for mining and evaluation

# Evaluation set -> model ("base", "retriever", ...) -> metric -> value.
Metrics = dict[str, dict[str, dict[str, float]]]


@dataclass
class PreparedRun:
    """The data of a run, new or resumed, and where it computes."""

    workspace: Workspace
    """The output folder and its checkpoint."""
    train: list[TrainingExample]
    """Training examples; those of a resumed run carry their mined negatives."""
    heldout: list[TrainingExample]
    """Held-out examples (no evaluation files given)."""
    gold_sets: dict[str, GoldSet]
    """Evaluation sets by name."""
    files: dict[str, str]
    """Evaluation files by name."""
    data_hash: str
    """Fingerprint of the selected examples."""
    device: str
    """The torch device of training."""
    dtype: torch.dtype
    """Autocast dtype of training (fp32: none)."""
    before: Metrics | None = None
    """Metrics before training, stored by the run that a resume continues."""
    resumed: bool = False
    """Whether this continues a checkpoint."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Trainer-specific metadata stored with the checkpoint."""


def _gold_sets(files: Mapping[str, str], documents: Sequence[Document]) -> dict[str, GoldSet]:
    return {name: load_gold_set(path, documents) for name, path in files.items()}


def prepare_run(
    output_dir: str | Path,
    documents: Sequence[Document],
    examples: Sequence[TrainingExample] | None,
    config: TrainingConfig,
    eval_files: Mapping[str, str | Path] | None,
    *,
    resume: bool,
) -> PreparedRun:
    """Select the data, read the evaluation files and check a resume, before any model loads."""
    if not documents:
        msg = "the taxonomy has no skills; load one with the loaders (load_esco_skills, ...)"
        raise TrainingDataError(msg)
    workspace = prepare_workspace(output_dir, resume=resume)
    pool = list(examples) if examples is not None else taxonomy_examples(documents)
    if not pool:
        msg = "there are no training examples; pass alignment data or a taxonomy with descriptions"
        raise TrainingDataError(msg)
    selected = select_examples(pool, config.max_pairs, config.seed)
    data_hash = data_fingerprint(selected)
    files = {name: str(path) for name, path in (eval_files or {}).items()}
    device, dtype = resolve_compute(config)
    if resume:
        meta = workspace.read_meta()
        check_resume(meta, config, data_hash)
        files = files or dict(meta["eval_files"])
        run = PreparedRun(
            workspace,
            read_examples(workspace.checkpoint_dir / EXAMPLES_FILE),
            read_examples(workspace.checkpoint_dir / HELDOUT_FILE),
            _gold_sets(files, documents),
            files,
            data_hash,
            device,
            dtype,
            before=meta["before"],
            resumed=True,
            extra=meta.get("extra", {}),
        )
    else:
        gold_sets = _gold_sets(files, documents)
        train = selected
        heldout: list[TrainingExample] = []
        if not gold_sets and config.holdout > 0:
            train, heldout = split_holdout(selected, config.holdout, config.seed)
        if not train:
            msg = f"no training examples are left after holding out {len(heldout)}; add data"
            raise TrainingDataError(msg)
        run = PreparedRun(workspace, train, heldout, gold_sets, files, data_hash, device, dtype)
    if run.heldout:
        run.gold_sets[HELDOUT_NAME] = holdout_gold(run.heldout)
    return run


def save_start(run: PreparedRun, config: TrainingConfig) -> None:
    """Store what a resume needs: the mined examples, the held-out ones, the metrics before."""
    write_examples(run.workspace.checkpoint_dir / EXAMPLES_FILE, run.train)
    write_examples(run.workspace.checkpoint_dir / HELDOUT_FILE, run.heldout)
    run.workspace.write_meta(
        {
            "config": config.resume_fingerprint(),
            "data_hash": run.data_hash,
            "eval_files": run.files,
            "before": run.before,
            "extra": run.extra,
        }
    )


def data_summary(
    run: PreparedRun, documents: Sequence[Document], sources: Mapping[str, str] | None
) -> dict[str, Any]:
    """What the model was trained on, for its README."""
    negatives = sum(len(e.negatives) for e in run.train)
    held_out = run.gold_sets.get(HELDOUT_NAME)
    return {
        **(sources or {}),
        "taxonomy skills": len(documents),
        "training examples": len(run.train),
        "examples by source": dict(Counter(e.source for e in run.train)),
        "hard negatives per example (mean)": round(negatives / max(1, len(run.train)), 2),
        "held-out queries": len(held_out.queries) if held_out else 0,
        "evaluation files": run.files or "none",
    }


def train(
    run: PreparedRun,
    config: TrainingConfig,
    model: torch.nn.Module,
    loss_fn: Callable[[list[TrainingExample]], torch.Tensor],
    *,
    before: Callable[[], Metrics],
    miner: ExactSearch,
    show_progress: bool,
    stop_after: int | None,
    description: str,
) -> FinetuneResult:
    """Evaluate and mine hard negatives (a new run only), then train, resuming a checkpoint.

    Args:
        run: The prepared run.
        config: The parameters.
        model: The model, on `run.device` in fp32.
        loss_fn: The loss of one batch of examples (called under autocast).
        before: Evaluates the model before training; its metrics are kept for the report.
        miner: The retriever whose candidates top up the hard negatives.
        show_progress: Show a progress bar.
        stop_after: Stop after this many steps (with a checkpoint); None runs to the end.
        description: The progress bar's label.

    Returns:
        The result so far; `completed` is False when stopped by `stop_after`.
    """
    if not run.resumed:
        run.before = before()
        if config.hard_negatives:
            run.train = mine_hard_negatives(run.train, miner, config)
        save_start(run, config)
    outcome = train_loop(
        model,
        run.train,
        [len(e.query) for e in run.train],
        config,
        loss_fn,
        run.workspace,
        device=run.device,
        dtype=run.dtype,
        show_progress=show_progress,
        stop_after=stop_after,
        description=description,
    )
    return FinetuneResult(
        run.workspace.output_dir,
        outcome.completed,
        outcome.steps,
        outcome.total_steps,
        len(run.train),
        outcome.losses,
        outcome.seconds,
    )


def finish(
    run: PreparedRun,
    result: FinetuneResult,
    documents: Sequence[Document],
    *,
    after: Mapping[str, Mapping[str, float]],
    label: str,
    title: str,
    kind: str,
    base_model: str,
    config: Mapping[str, Any],
    sources: Mapping[str, str] | None,
    usage: str,
    notes: Sequence[str],
) -> FinetuneResult:
    """Record a completed run next to the saved model, then remove its checkpoint.

    Args:
        run: The run.
        result: What `train` returned.
        documents: The taxonomy's skills.
        after: Evaluation set -> metrics of the fine-tuned model.
        label: The fine-tuned model's row, next to the rows of `run.before`.
        title: The chart's title.
        kind: What was trained, for the README.
        base_model: The model training started from.
        config: The parameters, as the README and `finetune.json` list them.
        sources: What the data came from.
        usage: How to load the model, a Python snippet.
        notes: Paragraphs for the README.
    """
    out = run.workspace.output_dir
    shutil.copy(run.workspace.checkpoint_dir / EXAMPLES_FILE, out / EXAMPLES_FILE)
    before = run.before or {}
    result.metrics = {
        name: {**before[name], label: dict(metrics)}
        for name, metrics in after.items()
        if name in before
    }
    if result.metrics:
        result.chart = plot_metric_panels(result.metrics, out / CHART_FILE, title=title)
    write_report(
        result,
        kind=kind,
        base_model=base_model,
        config={**config, "compute": f"{run.device}, {run.dtype}"},
        data=data_summary(run, documents, sources),
        usage=usage,
        notes=notes,
    )
    shutil.rmtree(run.workspace.checkpoint_dir)
    return result
