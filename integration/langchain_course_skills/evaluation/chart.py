"""Bar charts of evaluation metrics, like the model card's: one group per metric, one bar each.

One panel per evaluation set side by side (`plot_metric_panels`) compares models before and
after fine-tuning.

matplotlib is imported when a chart is drawn, and only its object-oriented API is used (a bare
`Figure` renders with Agg), so drawing never changes the pyplot backend of the caller's process.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from langchain_course_skills.evaluation.runner import REPORT_METRICS

_BAR_GROUP_WIDTH = 0.8  # share of each metric's slot the bars fill
_LABELLED_BARS = 4  # above this many configurations, bars carry no value labels
_DPI = 150


def plot_metrics(
    metrics: Mapping[str, Mapping[str, float]],
    path: str | Path,
    *,
    metric_names: Sequence[str] = REPORT_METRICS,
    title: str | None = None,
) -> Path:
    """Draw a grouped bar chart of metrics and save it (PNG, or any format matplotlib writes).

    Example:
        >>> plot_metrics(result.metrics, "out/metrics.png", title="tech, 75 queries")
        PosixPath('out/metrics.png')

    Args:
        metrics: Configuration name -> metric name -> value in [0, 1], e.g.
            `EvaluationResult.metrics`.
        path: Where to write the image; the suffix picks the format.
        metric_names: The metric groups, in order; those that no configuration has are left out.
        title: The chart's title.

    Returns:
        The path written.

    Raises:
        ValueError: If `metrics` is empty or has none of `metric_names`.
        ImportError: If matplotlib is not installed.
    """
    return plot_metric_panels({title or "": metrics}, path, metric_names=metric_names)


def plot_metric_panels(
    panels: Mapping[str, Mapping[str, Mapping[str, float]]],
    path: str | Path,
    *,
    metric_names: Sequence[str] = REPORT_METRICS,
    title: str | None = None,
) -> Path:
    """Draw one `plot_metrics` panel per evaluation set, side by side, and save the figure.

    Example:
        >>> plot_metric_panels(result.metrics, "out/evaluation.png", title="base vs. tuned")
        PosixPath('out/evaluation.png')

    Args:
        panels: Evaluation set (the panel's title) -> configuration -> metric -> value in
            [0, 1], e.g. `FinetuneResult.metrics`.
        path: Where to write the image; the suffix picks the format.
        metric_names: The metric groups, in order; those that no configuration has are left out.
        title: The figure's title, above the panels.

    Returns:
        The path written.

    Raises:
        ValueError: If a panel is empty or no configuration has any of `metric_names`.
        ImportError: If matplotlib is not installed.
    """
    if not panels or not all(panels.values()):
        msg = "metrics is empty; pass {configuration name: {metric: value}}"
        raise ValueError(msg)
    rows = [row for metrics in panels.values() for row in metrics.values()]
    shown = [m for m in metric_names if any(m in row for row in rows)]
    if not shown:
        msg = f"none of the metrics {list(metric_names)} is in the results; pass metric_names"
        raise ValueError(msg)
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        msg = "charts need matplotlib; install it with `pip install matplotlib`"
        raise ImportError(msg) from exc

    most = max(len(metrics) for metrics in panels.values())
    inches = min(max(1.5 + len(shown) * (0.4 + 0.25 * most), 6.0), 16.0)
    figure = Figure(figsize=(inches * len(panels), 5.0))
    all_axes = figure.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for axes, (name, metrics) in zip(all_axes, panels.items()):
        names = list(metrics)
        width = _BAR_GROUP_WIDTH / len(names)
        for index, row in enumerate(names):
            offsets = [m + (index - (len(names) - 1) / 2) * width for m in range(len(shown))]
            values = [metrics[row].get(metric, math.nan) for metric in shown]  # nan: no bar
            bars = axes.bar(offsets, values, width, label=row)
            if len(names) <= _LABELLED_BARS:
                axes.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
        axes.set_xticks(range(len(shown)), shown)
        axes.set_ylim(0, 1.05)
        axes.grid(axis="y", alpha=0.3)
        axes.set_axisbelow(True)
        axes.legend(
            fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=min(len(names), 4)
        )
        if name:
            axes.set_title(name)
    all_axes[0].set_ylabel("score")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    out = Path(path).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=_DPI)
    return out
