"""Timing and memory: alternating repetitions, medians, percentiles, peak RSS during a call."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil

from langchain_course_skills.models.loading import cpu_info

T = TypeVar("T")
MB = 1024 * 1024
_SAMPLE_SECONDS = 0.01  # RSS sampling period while a call runs


@dataclass
class Sample:
    """One timed call."""

    seconds: float
    peak_mb: float  # highest RSS during the call minus RSS before it
    result: Any = None


@dataclass
class _Peak:
    before: int
    peak: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


@contextmanager
def _peak_rss() -> Iterator[_Peak]:
    process = psutil.Process()
    state = _Peak(before=process.memory_info().rss)
    state.peak = state.before

    def watch() -> None:
        while not state.stop.wait(_SAMPLE_SECONDS):
            state.peak = max(state.peak, process.memory_info().rss)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        thread.join()
        state.peak = max(state.peak, process.memory_info().rss)


def timed(call: Callable[[], T]) -> Sample:
    """Run `call` once; return its wall time, peak extra memory and result."""
    with _peak_rss() as peak:
        started = time.perf_counter()
        result = call()
        seconds = time.perf_counter() - started
    return Sample(seconds=seconds, peak_mb=(peak.peak - peak.before) / MB, result=result)


def loaded(load: Callable[[], T], warm: Callable[[T], object]) -> tuple[T, float]:
    """Load a model and use it once; return it and the RSS that added, in MB.

    The first use counts: safetensors weights are memory-mapped and only resident once read.
    """
    before = psutil.Process().memory_info().rss
    model = load()
    warm(model)
    return model, (psutil.Process().memory_info().rss - before) / MB


def alternate(reps: int, contenders: dict[str, Callable[[int], Sample]]) -> dict[str, list[Sample]]:
    """Run every contender once per repetition, reversing the order every other repetition.

    On a machine shared with other work, load drifts; alternating (A B, B A, ...) spreads the
    drift over both sides, so the ratio of medians stays meaningful when absolute times do not.
    """
    names = list(contenders)
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for rep in range(reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            samples[name].append(contenders[name](rep))
    return samples


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the nearest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(samples: list[Sample], work: int | None = None) -> dict[str, Any]:
    """Medians (and p50/p95 for latencies) of a contender's samples; `work` items per call."""
    seconds = [s.seconds for s in samples]
    out: dict[str, Any] = {
        "n": len(samples),
        "seconds": [round(s, 4) for s in seconds],
        "median_s": statistics.median(seconds),
        "p50_ms": percentile(seconds, 50) * 1000,
        "p95_ms": percentile(seconds, 95) * 1000,
        "peak_mb": max(s.peak_mb for s in samples),
    }
    if work is not None:
        out["per_s"] = work / out["median_s"]
    return out


def speedup(recipe: dict[str, Any], ours: dict[str, Any]) -> float:
    """Recipe time over our time (medians): 4.0 means ours takes a quarter of the time."""
    return float(recipe["median_s"] / ours["median_s"])


def machine(threads: int) -> dict[str, Any]:
    """What the numbers came from."""
    import chromadb
    import sentence_transformers
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in lscpu.splitlines()
            if line.startswith("Model name")
        )
    except (OSError, subprocess.CalledProcessError, StopIteration):
        pass
    flags = cpu_info()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": threads,
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "avx512_vnni": "avx512_vnni" in flags,
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "chromadb": chromadb.__version__,
    }


def write_results(out: Path, name: str, result: dict[str, Any], report: str) -> None:
    """Write `name`.json and `name`.md to `out`, and print the report."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    (out / f"{name}.md").write_text(report, "utf-8")
    print(report)


def cpu_line(m: dict[str, Any]) -> str:
    """The CPU, its cores and the flags that decide the CPU class, for a report."""
    return (
        f"{m['cpu']}, {m['cores']} cores (avx512_bf16={m['avx512_bf16']}, "
        f"amx_bf16={m['amx_bf16']}, avx512_vnni={m['avx512_vnni']})"
    )
