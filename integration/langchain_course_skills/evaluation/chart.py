"""Bar charts of evaluation metrics, like the model card's: one group per metric, one bar each.

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
    if not metrics:
        msg = "metrics is empty; pass {configuration name: {metric: value}}"
        raise ValueError(msg)
    shown = [m for m in metric_names if any(m in row for row in metrics.values())]
    if not shown:
        msg = f"none of the metrics {list(metric_names)} is in the results; pass metric_names"
        raise ValueError(msg)
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        msg = "charts need matplotlib; install it with `pip install matplotlib`"
        raise ImportError(msg) from exc

    names = list(metrics)
    width = _BAR_GROUP_WIDTH / len(names)
    inches = 1.5 + len(shown) * (0.4 + 0.25 * len(names))
    figure = Figure(figsize=(min(max(inches, 6.0), 16.0), 5.0))
    axes = figure.add_subplot()
    for index, name in enumerate(names):
        offsets = [m + (index - (len(names) - 1) / 2) * width for m in range(len(shown))]
        values = [metrics[name].get(metric, math.nan) for metric in shown]  # nan: no bar
        bars = axes.bar(offsets, values, width, label=name)
        if len(names) <= _LABELLED_BARS:
            axes.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    axes.set_xticks(range(len(shown)), shown)
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("score")
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    axes.legend(
        fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=min(len(names), 4)
    )
    if title:
        axes.set_title(title)
    figure.tight_layout()
    out = Path(path).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=_DPI)
    return out
