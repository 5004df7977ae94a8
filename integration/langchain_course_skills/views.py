"""Several passages ("views") of each skill in one store, and their fusion into one score per skill.

A skill is stored as its main passage (the text the loader's template made, under the skill's
own id, exactly as a one-view store holds it) and further passages under `"{skill_id}#{view}"`
ids: each alternative label (`#alt:1`, `#alt:2`, ...), `label: description` (`#description`),
and the same in other languages (`#de:label`, `#de:alt:1`, ...). New stores hold
`DEFAULT_VIEWS` (all three kinds); `SINGLE_VIEW` is the one-passage layout of stores built
before views. A skill without alternative labels or description has just its main passage.
Every further passage carries the skill's id, its view and language, and the skill's main text,
so that a match is reported as the skill.

Example:
    >>> docs = load_esco_skills("skills_en.csv")
    >>> german = load_esco_skills("skills_de_labels.csv")
    >>> [p.id[-14:] for p in view_passages(docs[:1], ("label", "alt"), {"de": german})]
    ['...2-3c8b6f6d1b3e', '...6d1b3e#alt:1', '...6d1b3e#alt:2', '...d1b3e#de:label']
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence

from langchain_core.documents import Document

from langchain_course_skills.vocabulary import (
    LANGUAGE_KEY,
    MATCHED_TEXT_KEY,
    MATCHED_VIEW_KEY,
    SIMILARITY_KEY,
    SKILL_ID_KEY,
    SKILL_TEXT_KEY,
    VIEW_KEY,
)

logger = logging.getLogger(__name__)

VIEW_KINDS = ("label", "alt", "description")  # the views a store can hold, in id order
SINGLE_VIEW: tuple[str, ...] = ("label",)  # one passage per skill, as stores held before views
# The views a new store holds: the only set that lifts MRR@10 by 4+ points over label-only
# passages on both Decorte validation sets with untrained all-MiniLM-L6-v2 (+5.2 TECH, +5.3
# HOUSE with "blend"), at 8.1x the passages (benchmarks/results/views_quality.md).
DEFAULT_VIEWS: tuple[str, ...] = ("label", "alt", "description")
VIEW_SEPARATOR = "#"  # between the skill id and the view in a passage id
FETCH_GROWTH = 2  # how much deeper a search goes when its passages gave fewer than k skills
_DROPPED_KEYS = ("alt_labels",)  # skill metadata not copied to every further view (it is large)


def check_views(views: Sequence[str] | str) -> tuple[str, ...]:
    """Return `views` as a tuple in canonical order, or raise `ValueError` saying what is wrong.

    Args:
        views: View kinds, for example `("label", "alt")`, or the same comma-separated.
    """
    given = [v.strip() for v in views.split(",")] if isinstance(views, str) else list(views)
    unknown = [v for v in given if v not in VIEW_KINDS]
    if unknown:
        msg = f"unknown view {unknown[0]!r}; choose from {', '.join(VIEW_KINDS)}"
        raise ValueError(msg)
    if "label" not in given:
        msg = (
            f"views {','.join(given) or '(none)'} lack 'label': every store holds each skill's "
            "main text (what results show and the reranker scores); add label"
        )
        raise ValueError(msg)
    return tuple(kind for kind in VIEW_KINDS if kind in given)


def check_languages(translations: Mapping[str, object]) -> None:
    """Raise `ValueError` if a language code of `translations` cannot name a view."""
    for language in translations:
        if not language or VIEW_SEPARATOR in language or ":" in language:
            msg = f"language code {language!r} must be non-empty without '#' or ':', e.g. 'de'"
            raise ValueError(msg)


def is_main_passage(metadata: Mapping[str, object]) -> bool:
    """Whether a stored passage is a skill's main passage (the one a one-view store holds)."""
    return SKILL_ID_KEY not in metadata


def passage_skill(passage_id: str, metadata: Mapping[str, object]) -> str:
    """The id of the skill a stored passage belongs to."""
    return str(metadata.get(SKILL_ID_KEY) or passage_id)


def passage_view(metadata: Mapping[str, object]) -> str:
    """The view of a stored passage: "label", "alt", "description", or e.g. "de:label"."""
    view = str(metadata.get(VIEW_KEY) or "label")
    language = metadata.get(LANGUAGE_KEY)
    return f"{language}:{view}" if language else view


def _alt_labels(metadata: Mapping[str, object]) -> list[str]:
    labels = (line.strip() for line in str(metadata.get("alt_labels") or "").splitlines())
    return list(dict.fromkeys(label for label in labels if label))


def _label(doc: Document) -> str:
    return str(doc.metadata.get("label") or doc.page_content)


def _further(
    source: Document, views: Sequence[str], language: str | None
) -> Iterator[tuple[str, str, str]]:
    """Yield (id suffix, view, text) of the further views `source` gives its skill."""
    prefix = f"{language}:" if language else ""
    if language and "label" in views:
        yield f"{prefix}label", "label", source.page_content
    label = _label(source)
    if "alt" in views:
        alternatives = [alt for alt in _alt_labels(source.metadata) if alt != label]
        for number, alt in enumerate(alternatives, start=1):
            yield f"{prefix}alt:{number}", "alt", alt
    description = str(source.metadata.get("description") or "").strip()
    if "description" in views and description:
        yield f"{prefix}description", "description", f"{label}: {description}"


def _passage(skill: Document, suffix: str, view: str, text: str, language: str | None) -> Document:
    metadata = {k: v for k, v in skill.metadata.items() if k not in _DROPPED_KEYS}
    metadata.update(
        {SKILL_ID_KEY: str(skill.id), VIEW_KEY: view, SKILL_TEXT_KEY: skill.page_content}
    )
    if language:
        metadata[LANGUAGE_KEY] = language
    return Document(id=f"{skill.id}{VIEW_SEPARATOR}{suffix}", page_content=text, metadata=metadata)


def view_passages(
    documents: Sequence[Document],
    views: Sequence[str] = DEFAULT_VIEWS,
    translations: Mapping[str, Sequence[Document]] | None = None,
) -> list[Document]:
    """Return the passages that store `documents` with `views`, in the skills' order.

    Each skill's main passage is the document itself (unchanged, so one-view stores stay
    valid); further views follow it. With one view and no translations, that is `documents`.

    Args:
        documents: The skills, with unique ids (from a loader).
        views: View kinds, see `VIEW_KINDS`; "label" is required.
        translations: Language code -> the same taxonomy in that language (documents with the
            same ids, e.g. ESCO's German file); each gives its own views of the skills. Ids
            not in `documents` are skipped (logged).

    Returns:
        Passages with unique ids.
    """
    views = check_views(views)
    check_languages(translations or {})
    by_language: dict[str, dict[str, Document]] = {}
    for language, docs in (translations or {}).items():
        by_language[language] = {str(doc.id): doc for doc in docs}
    known = {str(doc.id) for doc in documents}
    for language, docs_by_id in by_language.items():
        skipped = len(set(docs_by_id) - known)
        if skipped:
            logger.info("%s: %d skills are not in the main taxonomy; skipped", language, skipped)
    passages: list[Document] = []
    for skill in documents:
        passages.append(skill)
        sources: list[tuple[str | None, Document]] = [(None, skill)] + [
            (language, docs_by_id[str(skill.id)])
            for language, docs_by_id in by_language.items()
            if str(skill.id) in docs_by_id
        ]
        for code, source in sources:
            for suffix, view, text in _further(source, views, code):
                passages.append(_passage(skill, suffix, view, text, code))
    return passages


def view_kind(metadata: Mapping[str, object]) -> str:
    """The view kind of a stored passage: "label", "alt" or "description" (any language)."""
    kind = str(metadata.get(VIEW_KEY) or "label")
    return kind if kind in VIEW_KINDS else "label"


def passages_to_fetch(k: int, passages_per_skill: float) -> int:
    """How many passages a search for `k` skills asks for first: k times passages per skill."""
    return max(k, math.ceil(k * max(1.0, passages_per_skill)))


def skill_result(passage: Document, similarity: float) -> Document:
    """The skill a matched passage stands for: its id, main text and metadata, with the match.

    The copy carries the fused `similarity` and which view matched (`matched_view`,
    `matched_text`); the passage is not changed.
    """
    metadata = dict(passage.metadata)
    skill_id = passage_skill(str(passage.id), metadata)
    view, text = passage_view(metadata), passage.page_content
    skill_text = str(metadata.pop(SKILL_TEXT_KEY, None) or passage.page_content)
    for key in (SKILL_ID_KEY, VIEW_KEY, LANGUAGE_KEY, *_DROPPED_KEYS):
        metadata.pop(key, None)
    metadata.update({SIMILARITY_KEY: similarity, MATCHED_VIEW_KEY: view, MATCHED_TEXT_KEY: text})
    return Document(id=skill_id, page_content=skill_text, metadata=metadata)
