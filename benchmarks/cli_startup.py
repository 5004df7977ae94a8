"""How fast the command line answers `--help`, `--version` and argument errors.

Each command runs as a fresh process, the contenders taking turns (see `_measure.alternate`),
next to two references: an empty interpreter (the floor) and importing what the command line
used to import before it answered (torch, chromadb, langchain-chroma, sentence-transformers).

    python benchmarks/cli_startup.py            # 20 repetitions
    python benchmarks/cli_startup.py --quick    # 2 repetitions (test_benchmark_smoke.py runs it)

Writes benchmarks/results/cli_startup.{json,md} (or --out DIR).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _measure import Sample, alternate, machine, summary

RESULTS = Path(__file__).resolve().parent / "results"
CLI = [sys.executable, "-m", "langchain_course_skills"]
CONTENDERS = {
    "python -c pass (floor)": [sys.executable, "-c", "pass"],
    "course-skills --version": [*CLI, "--version"],
    "course-skills --help": [*CLI, "--help"],
    "course-skills search --help": [*CLI, "search", "--help"],
    "course-skills search -k 0 (argument error)": [*CLI, "search", "-k", "0"],
    "import torch, chromadb, langchain_chroma, sentence_transformers (before)": [
        sys.executable,
        "-c",
        "import torch, chromadb, langchain_chroma, sentence_transformers",
    ],
}
TARGET_S = 0.5  # the bound for --help, --version and argument errors


def _command(argv: list[str]) -> Sample:
    started = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=False)
    return Sample(seconds=time.perf_counter() - started, peak_mb=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 repetitions")
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    reps = 2 if args.quick else args.reps

    samples = alternate(
        reps, {name: (lambda _rep, argv=argv: _command(argv)) for name, argv in CONTENDERS.items()}
    )
    results = {name: summary(values) for name, values in samples.items()}
    before = results[list(CONTENDERS)[-1]]["median_s"]
    rows = [
        "| command | median | p95 | vs. importing everything first |",
        "|---|---:|---:|---:|",
    ]
    for name, result in results.items():
        ratio = before / result["median_s"]
        rows.append(
            f"| `{name}` | {result['median_s']:.3f} s | {result['p95_ms'] / 1000:.3f} s "
            f"| {ratio:.1f}x |"
        )
    info = machine(threads=1)
    text = "\n".join(
        [
            f"# Command-line start-up ({reps} repetitions, alternating)",
            "",
            f"Machine: {info['cpu']}, {info['cores']} cores, avx512_bf16={info['avx512_bf16']}, "
            f"amx_bf16={info['amx_bf16']}, load average {info['load_average']}.",
            f"Bound: {TARGET_S} s for --help, --version and argument errors.",
            "",
            *rows,
            "",
        ]
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cli_startup.json").write_text(
        json.dumps({"machine": info, "results": results}, indent=2) + "\n", encoding="utf-8"
    )
    (args.out / "cli_startup.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
