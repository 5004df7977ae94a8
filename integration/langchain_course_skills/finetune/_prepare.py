"""The steps both trainers take before training: data, evaluation sets, the resume check."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_course_skills.errors import TrainingDataError
from langchain_course_skills.evaluation.gold import GoldSet, load_gold_set
from langchain_course_skills.finetune._training import (
    EXAMPLES_FILE,
    HELDOUT_FILE,
    LoopOutcome,
    TrainingConfig,
    Workspace,
    check_resume,
    data_fingerprint,
    prepare_workspace,
    read_examples,
    write_examples,
)
from langchain_course_skills.finetune.pairs import (
    TrainingExample,
    holdout_gold,
    select_examples,
    split_holdout,
    taxonomy_examples,
)
from langchain_course_skills.finetune.report import FinetuneResult
from langchain_course_skills.finetune.scoring import candidates_for, mine_negatives

if TYPE_CHECKING:
    import torch
    from langchain_core.documents import Document
    from sentence_transformers import SentenceTransformer

HELDOUT_NAME = "held-out"  # evaluation set name of the held-out training queries


@dataclass
class PreparedRun:
    """The data of a run, new or resumed."""

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
    before: dict[str, Any] | None = None
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
        run = PreparedRun(workspace, train, heldout, gold_sets, files, data_hash)
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
    return {
        **(sources or {}),
        "taxonomy skills": len(documents),
        "training examples": len(run.train),
        "examples by source": dict(Counter(e.source for e in run.train)),
        "hard negatives per example (mean)": round(negatives / max(1, len(run.train)), 2),
        "held-out queries": len(run.gold_sets.get(HELDOUT_NAME, GoldSet({}, {})).queries),
        "evaluation files": run.files or "none",
    }


def mine_hard_negatives(
    run: PreparedRun,
    config: TrainingConfig,
    documents: Sequence[Document],
    retriever: SentenceTransformer,
    passages: torch.Tensor | None,
    *,
    device: str,
    dtype: torch.dtype,
) -> None:
    """Top up `run.train`'s hard negatives from `retriever`'s ranks `config.negative_ranks`."""
    candidates = candidates_for(
        run.train,
        retriever,
        documents,
        config.negative_ranks[1],
        device=device,
        dtype=dtype,
        passages=passages,
    )
    run.train = mine_negatives(
        run.train,
        candidates,
        documents,
        count=config.hard_negatives,
        ranks=config.negative_ranks,
        seed=config.seed,
    )


def result_of(run: PreparedRun, outcome: LoopOutcome) -> FinetuneResult:
    """The result of the training loop, before the model is evaluated."""
    return FinetuneResult(
        run.workspace.output_dir,
        outcome.completed,
        outcome.steps,
        outcome.total_steps,
        len(run.train),
        outcome.losses,
        outcome.seconds,
    )
