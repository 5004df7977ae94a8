"""The training loop both trainers share: batching, schedule, precision, checkpoints, resume.

A plain torch loop rather than sentence-transformers' trainer: it needs no `datasets` or
`accelerate`, it mines and masks hard negatives by skill id, and its checkpoint (model,
optimizer, schedule, RNG state and step) resumes a run bit for bit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from langchain_course_skills.errors import TrainingDataError, parameter
from langchain_course_skills.finetune.config import CHECKPOINT_DIR, TrainingConfig
from langchain_course_skills.finetune.pairs import TrainingExample
from langchain_course_skills.models.loading import resolve_device, resolve_precision

logger = logging.getLogger(__name__)

STATE_FILE = "state.pt"  # model, optimizer, schedule, RNG state and step
META_FILE = "meta.json"  # parameters, data fingerprint, evaluation before training
EXAMPLES_FILE = "training_data.jsonl"  # the examples with their hard negatives
HELDOUT_FILE = "heldout.jsonl"  # held-out examples for the evaluation
_BUCKET_BATCHES = 50  # batches per length bucket: similar lengths pad little, order stays random


@dataclass
class LoopOutcome:
    """What the training loop did."""

    steps: int
    """Steps done so far, over all sessions."""
    total_steps: int
    """Steps of the whole run."""
    losses: list[float]
    """Training loss of every step done so far."""
    seconds: float
    """Training time so far, over all sessions."""

    @property
    def completed(self) -> bool:
        """Whether every step has run."""
        return self.steps >= self.total_steps


@dataclass
class Workspace:
    """The output folder and its checkpoint folder."""

    output_dir: Path
    checkpoint_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.checkpoint_dir = self.output_dir / CHECKPOINT_DIR

    @property
    def state_file(self) -> Path:
        """The checkpoint of the loop."""
        return self.checkpoint_dir / STATE_FILE

    def read_meta(self) -> dict[str, Any]:
        """The metadata written when the run started."""
        return dict(json.loads((self.checkpoint_dir / META_FILE).read_text(encoding="utf-8")))

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Write the metadata of the run."""
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        path = self.checkpoint_dir / META_FILE
        path.write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")


def prepare_workspace(output_dir: str | Path, *, resume: bool) -> Workspace:
    """Check the output folder: empty for a new run, holding a checkpoint for `resume`."""
    workspace = Workspace(Path(output_dir).expanduser())
    out = workspace.output_dir
    if resume:
        if not (workspace.checkpoint_dir / META_FILE).is_file():
            done = (out / "finetune.json").is_file()
            reason = "training there is complete" if done else "it holds no checkpoint"
            msg = (
                f"cannot resume in {str(out)!r}: {reason}; start a new run without "
                f"{parameter('resume', 'True')}"
            )
            raise TrainingDataError(msg)
        return workspace
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        hint = (
            f"; it holds an unfinished run: add {parameter('resume', 'True')} to continue it"
            if workspace.checkpoint_dir.is_dir()
            else ""
        )
        msg = (
            f"output folder {str(out)!r} is not empty{hint}; or choose a new, empty "
            f"{parameter('output_dir')}"
        )
        raise TrainingDataError(msg)
    return workspace


def check_resume(meta: dict[str, Any], config: TrainingConfig, data_hash: str) -> None:
    """Raise if a resumed run's parameters or data differ from the checkpoint's."""
    stored = meta["config"]
    changed = {
        key: (stored.get(key), value)
        for key, value in config.resume_fingerprint().items()
        if stored.get(key) != value
    }
    if changed:
        shown = ", ".join(f"{k}: {old!r} then, {new!r} now" for k, (old, new) in changed.items())
        msg = (
            f"the checkpoint was written with other parameters ({shown}); resume with the same "
            f"options, or start a new run in another {parameter('output_dir')}"
        )
        raise TrainingDataError(msg)
    if meta["data_hash"] != data_hash:
        msg = (
            "the training data differs from the data of the checkpoint (other "
            f"{parameter('documents')} or {parameter('examples')}, or their files changed); "
            "resume with the same data, or start a new run"
        )
        raise TrainingDataError(msg)


def data_fingerprint(examples: Sequence[TrainingExample]) -> str:
    """A hash of the examples, to check that a resumed run trains on the same data."""
    digest = hashlib.sha256()
    for example in examples:
        digest.update(json.dumps(example.to_json(), sort_keys=True).encode("utf-8"))
    return digest.hexdigest()[:16]


def write_examples(path: Path, examples: Sequence[TrainingExample]) -> None:
    """Write examples as JSONL (see `TrainingExample.to_json`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(json.dumps(example.to_json(), ensure_ascii=False) + "\n")


def read_examples(path: Path) -> list[TrainingExample]:
    """Read examples written by `write_examples`."""
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as handle:
        return [TrainingExample.from_json(json.loads(line)) for line in handle if line.strip()]


def resolve_compute(config: TrainingConfig) -> tuple[str, torch.dtype]:
    """Return the device and the autocast dtype (fp32 means no autocast)."""
    device = resolve_device(config.device)
    dtype = resolve_precision(config.precision, device)
    if (
        config.precision == "auto"
        and device.startswith("cuda")
        and torch.cuda.is_available()
        and torch.cuda.is_bf16_supported()
    ):
        dtype = torch.bfloat16  # no loss scaling needed, same speed as fp16 on recent GPUs
    return device, dtype


def autocast(device: str, dtype: torch.dtype) -> contextlib.AbstractContextManager[Any]:
    """Mixed precision for the forward pass; a no-op for fp32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.split(":")[0], dtype=dtype)


def epoch_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int
) -> list[list[int]]:
    """Return the batches (example indices) of one epoch, the same for the same seed and epoch.

    Examples are shuffled, then sorted by length within buckets of a few dozen batches, so a
    batch pads to similar lengths; the batch order is shuffled again.
    """
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    bucket = batch_size * _BUCKET_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(order), bucket):
        part = sorted(order[start : start + bucket], key=lambda i: lengths[i])
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def _schedule(total: int, warmup_ratio: float) -> Callable[[int], float]:
    warmup = int(total * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def _save_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # a crash while saving keeps the previous checkpoint


def _load_state(path: Path, device: str) -> dict[str, Any]:
    """Load a checkpoint as tensors and plain values only, never arbitrary pickled objects."""
    try:
        state: dict[str, Any] = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        msg = (
            f"the checkpoint {path} cannot be loaded as tensors ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); it is damaged or was not written "
            f"by this package: delete {path.parent} to start the training again"
        )
        raise TrainingDataError(msg) from exc
    return state


def _batches_from(
    lengths: Sequence[int], config: TrainingConfig, step: int, per_epoch: int
) -> Iterator[list[int]]:
    for epoch in range(step // per_epoch, config.epochs):
        batches = epoch_batches(lengths, config.batch_size, config.seed, epoch)
        skip = step - epoch * per_epoch if epoch == step // per_epoch else 0
        yield from batches[skip:]


def train_loop(
    model: torch.nn.Module,
    examples: Sequence[TrainingExample],
    lengths: Sequence[int],
    config: TrainingConfig,
    loss_fn: Callable[[list[TrainingExample]], torch.Tensor],
    workspace: Workspace,
    *,
    device: str,
    dtype: torch.dtype,
    show_progress: bool,
    stop_after: int | None,
    description: str,
) -> LoopOutcome:
    """Train `model` on `examples`, resuming from the workspace's checkpoint if it has one.

    Args:
        model: The model; its parameters are trained in fp32.
        examples: The training examples.
        lengths: A length per example, for batching similar lengths together.
        config: The parameters.
        loss_fn: The loss of one batch of examples (called under autocast).
        workspace: Where checkpoints go.
        device: The device the model is on.
        dtype: Autocast dtype; fp32 disables autocast.
        show_progress: Show a progress bar.
        stop_after: Stop after this many steps in this call (with a checkpoint); None runs to
            the end.
        description: The progress bar's label.
    """
    from tqdm.auto import tqdm

    per_epoch = len(epoch_batches(lengths, config.batch_size, config.seed, 0))
    total = per_epoch * config.epochs
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(total, config.warmup_ratio))
    scaler = torch.amp.GradScaler(device.split(":")[0], enabled=dtype == torch.float16)
    step, losses, seconds = 0, [], 0.0
    if workspace.state_file.is_file():
        state = _load_state(workspace.state_file, device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng"])
        step, losses, seconds = state["step"], list(state["losses"]), float(state["seconds"])
        logger.info("resuming at step %d of %d from %s", step, total, workspace.state_file)

    def save() -> None:
        _save_state(
            workspace.state_file,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "step": step,
                "losses": losses,
                "seconds": seconds + time.perf_counter() - started,
            },
        )

    started = time.perf_counter()
    done_here = 0
    model.train()
    bar = tqdm(total=total, initial=step, desc=description, disable=not show_progress)
    try:
        for batch in _batches_from(lengths, config, step, per_epoch):
            if stop_after is not None and done_here >= stop_after:
                break
            with autocast(device, dtype):
                loss = loss_fn([examples[i] for i in batch])
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            value = float(loss.detach())
            if not math.isfinite(value):
                msg = (
                    f"the training loss became {value} at step {step + 1}; lower the "
                    f"learning rate, or train in fp32 ({parameter('precision', repr('fp32'))})"
                )
                raise TrainingDataError(msg)
            losses.append(value)
            step += 1
            done_here += 1
            bar.update(1)
            bar.set_postfix(loss=f"{value:.3f}")
            if step % config.checkpoint_steps == 0 and step < total:
                save()
    finally:
        bar.close()
    model.eval()
    outcome = LoopOutcome(step, total, losses, seconds + time.perf_counter() - started)
    if not outcome.completed:
        save()
        logger.info("stopped at step %d of %d; the checkpoint is in %s", step, total, workspace)
    return outcome
