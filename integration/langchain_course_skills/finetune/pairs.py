"""Training data for fine-tuning: (query, positive skill, hard negatives) examples.

Examples come from two places, which can be mixed:

* the taxonomy itself (`taxonomy_examples`): each skill's description and each of its
  alternative labels is a query whose positive is the skill's passage text (ESCO's
  `description` and `alt_labels`, GRETA's `requirements`, a table's `description`/`alt_labels`
  where the loader kept them);
* alignment JSONL files (`read_alignments`), one object per line, in the model card's format
  `{"query": "...", "pos": ["skill text", ...], "neg": ["skill text", ...]}` or this
  package's gold format `{"query": "...", "relevant": ["skill id or label", ...]}`.

Positives are resolved against the taxonomy (by id, passage text or label), so that a training
passage is exactly the text the store indexes and the id is known for masking false negatives.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.documents import Document

from langchain_course_skills._jsonl import json_objects
from langchain_course_skills.embeddings import PASSAGE_PREFIX, QUERY_PREFIX
from langchain_course_skills.errors import TrainingDataError, parameter
from langchain_course_skills.evaluation.gold import (
    GoldSet,
    SkillIndex,
    jsonl_lines,
    name_key,
    query_text,
)

STRICT_KEYS = ("relevant", "uris")  # entries that must be skill ids or labels of the taxonomy
TEXT_KEYS = ("pos",)  # entries that are skill texts; free text is allowed (the card's format)
TAXONOMY_SOURCES = ("description", "alt_label", "requirement")  # kinds of taxonomy queries
_FREE_TEXT_ID = "text:"  # id prefix of a positive that is not in the taxonomy
_SHOWN_ERRORS = 5  # unresolved entries listed in one message


@dataclass(frozen=True)
class TrainingExample:
    """One training query with one positive skill and optional hard negatives."""

    query: str
    """The query text, without the `query: ` prefix."""
    positive: str
    """The positive skill's passage text, without the `passage: ` prefix."""
    positive_id: str
    """The positive's skill id, or `text:<text>` for free text that is not in the taxonomy."""
    relevant_ids: frozenset[str]
    """Every positive id of this query: never used as a negative for it."""
    negatives: tuple[str, ...] = ()
    """Hard negative passage texts."""
    negative_ids: tuple[str, ...] = ()
    """Their skill ids (same order)."""
    source: str = "alignment"
    """Where it came from: description, alt_label, requirement, alignment."""

    def with_negatives(self, texts: Sequence[str], ids: Sequence[str]) -> TrainingExample:
        """Return a copy with these hard negatives."""
        return TrainingExample(
            self.query,
            self.positive,
            self.positive_id,
            self.relevant_ids,
            tuple(texts),
            tuple(ids),
            self.source,
        )

    def to_json(self) -> dict[str, Any]:
        """Return the example as a JSON-serializable dict (see `from_json`)."""
        return {
            "query": self.query,
            "pos": self.positive,
            "pos_id": self.positive_id,
            "relevant_ids": sorted(self.relevant_ids),
            "neg": list(self.negatives),
            "neg_ids": list(self.negative_ids),
            "source": self.source,
        }

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> TrainingExample:
        """Rebuild an example written by `to_json`."""
        return cls(
            record["query"],
            record["pos"],
            record["pos_id"],
            frozenset(record["relevant_ids"]),
            tuple(record["neg"]),
            tuple(record["neg_ids"]),
            record["source"],
        )


def strip_prefix(text: str) -> str:
    """Remove a leading `query: ` or `passage: ` that the data may already carry."""
    for prefix in (QUERY_PREFIX, PASSAGE_PREFIX):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def _doc_id(doc: Document) -> str:
    return str(doc.id)


def _skill_index(documents: Sequence[Document]) -> tuple[SkillIndex, dict[str, Document]]:
    """Index the skills by id, passage text and label (the card's "pos" gives passage texts)."""
    by_id = {_doc_id(doc): doc for doc in documents}
    names = {
        skill_id: (doc.page_content, str(doc.metadata.get("label", "")))
        for skill_id, doc in by_id.items()
    }
    return SkillIndex(names), by_id


def _taxonomy_queries(doc: Document) -> Iterator[tuple[str, str]]:
    """Yield (source, query text) pairs that describe the skill `doc`."""
    metadata = doc.metadata
    description = str(metadata.get("description") or "").strip()
    if description:
        yield "description", description
    for alt in str(metadata.get("alt_labels") or "").splitlines():
        if alt.strip():
            yield "alt_label", alt.strip()
    # GRETA keeps its Kompetenzanforderungen joined by "; " (see loaders.load_greta).
    for requirement in str(metadata.get("requirements") or "").split("; "):
        if requirement.strip():
            yield "requirement", requirement.strip()


def taxonomy_examples(documents: Sequence[Document]) -> list[TrainingExample]:
    """Derive training examples from the skills themselves, with no gold data.

    Each description, alternative label and (GRETA) requirement becomes a query whose positive
    is its skill's passage text. Queries equal to their passage text are skipped, and so are
    duplicate (query, skill) pairs.

    Example:
        >>> examples = taxonomy_examples(load_esco_skills("skills_en.csv"))
        >>> len(examples), examples[0].source
        (99073, 'description')

    Raises:
        TrainingDataError: If no skill has a description, an alternative label or requirements.
    """
    examples: list[TrainingExample] = []
    seen: set[tuple[str, str]] = set()
    for doc in documents:
        doc_id = _doc_id(doc)
        for source, text in _taxonomy_queries(doc):
            pair = (name_key(text), doc_id)
            if pair in seen or name_key(text) == name_key(doc.page_content):
                continue
            seen.add(pair)
            examples.append(
                TrainingExample(text, doc.page_content, doc_id, frozenset({doc_id}), source=source)
            )
    if not examples:
        msg = (
            f"the taxonomy ({len(documents)} skills) gives no training pairs: its skills have no "
            "description, alternative labels (alt_labels) or requirements in their metadata; "
            f"pass alignment data as {parameter('examples')} (JSONL lines "
            '{"query", "relevant": [...]})'
        )
        raise TrainingDataError(msg)
    return examples


def _entries(record: dict[str, Any], key: str, where: str) -> list[str]:
    entries = record[key]
    if isinstance(entries, str):
        entries = [entries]
    if not isinstance(entries, list) or any(
        not isinstance(e, str) or not e.strip() for e in entries
    ):
        msg = f"{where}: {key!r} must be a list of non-empty strings, got {entries!r:.80}"
        raise TrainingDataError(msg)
    return [strip_prefix(e.strip()) for e in entries]


def _query_text(record: dict[str, Any], where: str) -> str:
    return strip_prefix(query_text(record, where, TrainingDataError).strip())


def read_alignments(path: str | Path, documents: Sequence[Document]) -> list[TrainingExample]:
    """Read an alignment JSONL file as training examples, one per (query, positive).

    Lines are `{"query", "pos": [...], "neg": [...]}` (the model card's format: skill texts;
    a text that is not in the taxonomy is trained on as it is) or `{"query", "relevant": [...]}`
    (this package's gold format; also `{"sentence", "uris"}`): skill ids or labels, which must
    all be in the taxonomy. Texts that already start with `query: `/`passage: ` lose it, since
    the trainer adds the prefixes.

    Args:
        path: The JSONL file.
        documents: The taxonomy's skills, to resolve positives and negatives against.

    Returns:
        The examples in file order.

    Raises:
        TrainingDataError: If the file is missing or empty, a line is malformed, has no
            positives, or a `relevant` entry is not a skill id or label of the taxonomy.
    """
    file = Path(path).expanduser()
    index, by_id = _skill_index(documents)
    examples: list[TrainingExample] = []
    unresolved: list[str] = []
    lines = jsonl_lines(file, "training file", TrainingDataError)
    for number, record in json_objects(lines, file.name, TrainingDataError):
        where = f"{file.name}, line {number}"
        query = _query_text(record, where)
        key = next((k for k in (*STRICT_KEYS, *TEXT_KEYS) if k in record), None)
        if key is None:
            msg = (
                f"{where}: no positives (the line has {sorted(record)}); add "
                '"pos": ["skill text", ...] or "relevant": ["skill id or label", ...]'
            )
            raise TrainingDataError(msg)
        entries = _entries(record, key, where)
        if not entries and record.get("neg"):
            continue  # rejected skills only (`feedback export`): no positive to train on
        if not entries:
            msg = f"{where}: {key!r} is empty; every line needs at least one positive skill"
            raise TrainingDataError(msg)
        positives: dict[str, str] = {}  # id -> passage text
        for entry in entries:
            found = [by_id[i] for i in index.find(entry)]
            if found:
                positives.update((_doc_id(doc), doc.page_content) for doc in found)
            elif key in STRICT_KEYS:
                unresolved.append(f"{where}: {entry!r}")
            else:
                positives[_FREE_TEXT_ID + entry] = entry
        negatives: dict[str, str] = {}
        if "neg" in record:
            for entry in _entries(record, "neg", where):
                found = [by_id[i] for i in index.find(entry)]
                pairs = [(_doc_id(d), d.page_content) for d in found] or [
                    (_FREE_TEXT_ID + entry, entry)
                ]
                negatives.update((i, t) for i, t in pairs if i not in positives)
        relevant = frozenset(positives)
        examples.extend(
            TrainingExample(
                query,
                text,
                skill_id,
                relevant,
                tuple(negatives.values()),
                tuple(negatives),
                "alignment",
            )
            for skill_id, text in positives.items()
        )
    if unresolved:
        shown = "; ".join(unresolved[:_SHOWN_ERRORS])
        more = (
            f" and {len(unresolved) - _SHOWN_ERRORS} more"
            if len(unresolved) > _SHOWN_ERRORS
            else ""
        )
        msg = (
            f"{len(unresolved)} skills in {file.name} are neither an id nor a label of the "
            f"taxonomy ({len(documents)} skills): {shown}{more}. Fix the labels, pass the "
            'taxonomy version the file was made for, or use "pos" for free skill texts'
        )
        raise TrainingDataError(msg)
    if not examples:
        msg = (
            f"training file {file.name} has no examples; write one JSON object per line, e.g. "
            '{"query": "course text", "relevant": ["skill id or label"]}'
        )
        raise TrainingDataError(msg)
    return examples


def _spread(examples: list[TrainingExample], rng: random.Random) -> list[TrainingExample]:
    """Order examples round-robin over their skills, in a random skill order."""
    groups: dict[str, list[TrainingExample]] = {}
    for example in examples:
        groups.setdefault(example.positive_id, []).append(example)
    order = list(groups)
    rng.shuffle(order)
    for members in groups.values():
        rng.shuffle(members)
    depth = max((len(members) for members in groups.values()), default=0)
    return [groups[s][d] for d in range(depth) for s in order if d < len(groups[s])]


def select_examples(
    examples: Sequence[TrainingExample], max_pairs: int | None, seed: int
) -> list[TrainingExample]:
    """Return at most `max_pairs` examples: alignment data first, then taxonomy pairs evenly.

    Alignment examples (any source other than the taxonomy's) are kept first. Taxonomy pairs
    fill the rest evenly from each kind (a description, an alternative label, a requirement,
    a description, ...) and, within a kind, round-robin over the skills in a seeded random
    order. So 10,000 ESCO pairs are 5,000 descriptions and 5,000 alternative labels of 5,000
    different skills each, rather than mostly alternative labels of the skills with many.

    Args:
        examples: All examples.
        max_pairs: The cap; None keeps everything.
        seed: Seed of the sampling.
    """
    if max_pairs is None or len(examples) <= max_pairs:
        return list(examples)
    aligned = [e for e in examples if e.source not in TAXONOMY_SOURCES][:max_pairs]
    rng = random.Random(seed)
    queues = [
        _spread([e for e in examples if e.source == source], rng) for source in TAXONOMY_SOURCES
    ]
    queues = [queue[::-1] for queue in queues if queue]  # pop() takes from the end
    chosen: list[TrainingExample] = []
    budget = max_pairs - len(aligned)
    while len(chosen) < budget and queues:
        for queue in queues:
            if len(chosen) < budget:
                chosen.append(queue.pop())
        queues = [queue for queue in queues if queue]
    return aligned + chosen


def split_holdout(
    examples: Sequence[TrainingExample], fraction: float, seed: int, *, max_queries: int = 1000
) -> tuple[list[TrainingExample], list[TrainingExample]]:
    """Split examples into (train, held out) by query, so no held-out query is trained on.

    Only queries whose positives are all taxonomy skills are held out (they can be evaluated
    by retrieval over the taxonomy).

    Args:
        examples: The examples.
        fraction: Share of the queries to hold out, in [0, 1).
        seed: Seed of the split.
        max_queries: At most this many held-out queries (evaluation cost).
    """
    if not 0 <= fraction < 1:
        msg = f"the held-out fraction must be in [0, 1), got {fraction}"
        raise TrainingDataError(msg)
    queries = sorted(
        {e.query for e in examples if not any(i.startswith(_FREE_TEXT_ID) for i in e.relevant_ids)}
    )
    count = min(int(len(queries) * fraction), max_queries)
    held = set(random.Random(seed).sample(queries, count)) if count else set()
    train = [e for e in examples if e.query not in held]
    return train, [e for e in examples if e.query in held]


def holdout_gold(examples: Iterable[TrainingExample]) -> GoldSet:
    """Return the held-out examples as a gold set: each query with all its relevant skills."""
    queries: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    ids: dict[str, str] = {}
    for example in examples:
        query_id = ids.setdefault(example.query, f"heldout-{len(ids) + 1}")
        queries[query_id] = example.query
        relevant.setdefault(query_id, set()).update(example.relevant_ids)
    return GoldSet(queries, {query_id: frozenset(ids) for query_id, ids in relevant.items()})
