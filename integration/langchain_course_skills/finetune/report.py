"""What a fine-tuned model folder records: a README, `finetune.json` and the before/after chart."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_course_skills.embeddings import PASSAGE_PREFIX, QUERY_PREFIX
from langchain_course_skills.evaluation.runner import grouped_metrics_table

REPORT_FILE = "finetune.json"  # parameters, data, metrics and timing, machine-readable
CHART_FILE = "evaluation.png"  # the before/after bar chart
CARD_FILE = "README.md"


@dataclass
class FinetuneResult:
    """What a fine-tuning run did and how the models compare.

    Example:
        >>> result = finetune_bi_encoder("all-MiniLM-L6-v2", "out", documents)
        >>> result.metrics["held-out"]["fine-tuned"]["rp@5"]
        0.61
    """

    output_dir: Path
    """The model folder (or, while not `completed`, the folder holding the checkpoint)."""
    completed: bool
    """False when the run stopped early (`stop_after`); resume it to finish."""
    steps: int
    """Optimizer steps done so far."""
    total_steps: int
    """Optimizer steps of the whole run."""
    examples: int
    """Training examples."""
    losses: list[float]
    """Training loss of every step."""
    train_seconds: float
    """Time spent in the training loop, over all sessions."""
    metrics: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    """Evaluation set -> model ("base", "fine-tuned", ...) -> metric -> value."""
    chart: Path | None = None
    """The bar chart, if there was an evaluation."""


def write_report(
    result: FinetuneResult,
    *,
    kind: str,
    base_model: str,
    config: Mapping[str, Any],
    data: Mapping[str, Any],
    usage: str,
    notes: Sequence[str] = (),
) -> None:
    """Write `finetune.json` and the model card `README.md` into the model folder."""
    out = result.output_dir
    report = {
        "kind": kind,
        "base_model": base_model,
        "parameters": dict(config),
        "data": dict(data),
        "steps": result.steps,
        "train_seconds": round(result.train_seconds, 1),
        "first_loss": result.losses[0] if result.losses else None,
        "last_loss": result.losses[-1] if result.losses else None,
        "metrics": result.metrics,
        "prefixes": {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX},
    }
    (out / REPORT_FILE).write_text(
        json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    window = max(1, len(result.losses) // 20)
    first = sum(result.losses[:window]) / window if result.losses else float("nan")
    last = sum(result.losses[-window:]) / window if result.losses else float("nan")
    lines = [
        f"# {out.name}",
        "",
        f"A {kind} fine-tuned from `{base_model}` with `langchain-course-skills`.",
        "",
        "## Usage",
        "",
        "```python",
        usage,
        "```",
        "",
        "## Training data",
        "",
        *[f"- {key}: {value}" for key, value in data.items()],
        "",
        "## Parameters",
        "",
        *[f"- {key}: {value}" for key, value in config.items()],
        "",
        f"{result.steps} steps in {result.train_seconds / 60:.1f} minutes; mean loss of the "
        f"first and last {window} steps: {first:.3f} -> {last:.3f}.",
        "",
        *notes,
        "",
        "## Evaluation before and after",
        "",
    ]
    if result.metrics:
        labels = ("evaluation set", "model")
        table = grouped_metrics_table(result.metrics, labels=labels, markdown=True)
        lines += ["In percent.", "", table, ""]
        if result.chart is not None:
            lines += [f"![before and after]({result.chart.name})", ""]
    else:
        lines += ["No evaluation was run.", ""]
    (out / CARD_FILE).write_text("\n".join(lines), encoding="utf-8")
