"""What a fine-tuned model folder records: a README, `finetune.json` and the before/after chart."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_course_skills.embeddings import PASSAGE_PREFIX, QUERY_PREFIX

REPORT_FILE = "finetune.json"  # parameters, data, metrics and timing, machine-readable
CHART_FILE = "evaluation.png"  # the before/after bar chart
CARD_FILE = "README.md"
CARD_METRICS = ("rp@5", "rp@10", "mrr@10", "ndcg@10", "accuracy@1", "accuracy@5")
CHART_METRICS = ("rp@5", "rp@10", "mrr@10", "ndcg@10")
_BAR_GROUP_WIDTH = 0.8  # share of each metric's slot that its bars fill
_DPI = 150


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


def metrics_markdown(metrics: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    """Return a Markdown table: one row per (evaluation set, model), one column per metric."""
    rows = ["| evaluation set | model | " + " | ".join(CARD_METRICS) + " |"]
    rows.append("|---|---|" + "---:|" * len(CARD_METRICS))
    for name, models in metrics.items():
        for model, values in models.items():
            cells = " | ".join(f"{values.get(m, float('nan')):.3f}" for m in CARD_METRICS)
            rows.append(f"| {name} | {model} | {cells} |")
    return "\n".join(rows)


def write_chart(
    metrics: Mapping[str, Mapping[str, Mapping[str, float]]], path: Path, title: str
) -> Path | None:
    """Draw one panel per evaluation set, one bar per model and metric; None without metrics.

    Only matplotlib's object-oriented API is used (a bare `Figure` renders with Agg), so the
    caller's pyplot backend is left alone.
    """
    if not metrics:
        return None
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        msg = "the chart needs matplotlib; install it with `pip install matplotlib`"
        raise ImportError(msg) from exc
    figure = Figure(figsize=(4.5 * len(metrics) + 1, 4.5))
    panels = figure.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    for axes, (name, models) in zip(panels, metrics.items()):
        width = _BAR_GROUP_WIDTH / len(models)
        for index, (model, values) in enumerate(models.items()):
            offsets = [
                m + (index - (len(models) - 1) / 2) * width for m in range(len(CHART_METRICS))
            ]
            bars = axes.bar(offsets, [values.get(m, 0.0) for m in CHART_METRICS], width)
            bars.set_label(model)
            axes.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
        axes.set_xticks(range(len(CHART_METRICS)), CHART_METRICS)
        axes.set_ylim(0, 1.05)
        axes.set_title(name, fontsize=10)
        axes.grid(axis="y", alpha=0.3)
        axes.set_axisbelow(True)
    panels[0].set_ylabel("score")
    panels[0].legend(fontsize=8, loc="upper left")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=_DPI)
    return path


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
        lines += [metrics_markdown(result.metrics), ""]
        if result.chart is not None:
            lines += [f"![before and after]({result.chart.name})", ""]
    else:
        lines += ["No evaluation was run.", ""]
    (out / CARD_FILE).write_text("\n".join(lines), encoding="utf-8")
