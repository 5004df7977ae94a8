"""The skills of the store by label: to look up a skill the model missed, and to describe one.

The index is read per worker process from the store's metadata (one pass over the stored
skills, their further views aside) and kept in memory: for ESCO's 13,900 skills a few MB. It is
read again when the store changed (`store_version`: a new sync, or skills added or deleted).

Example:
    >>> index = SkillIndex.from_store(retriever.store)
    >>> [skill.label for skill in index.lookup("wordpress", limit=2)]
    ['WordPress', 'use WordPress']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_course_skills.store import (
    SYNC_DIGEST_KEY,
    iter_stored,
    skill_collection,
    store_client,
)
from langchain_course_skills.views import is_main_passage

if TYPE_CHECKING:
    from langchain_chroma import Chroma

# Metadata that describes a skill: ESCO's description, GRETA's requirements (the loaders').
DESCRIPTION_KEYS = ("description", "requirements")


@dataclass(frozen=True)
class StoredSkill:
    """One skill of the store, as the page shows it."""

    uri: str
    """Its id (the ESCO URI for ESCO)."""
    label: str
    """Its preferred label."""
    taxonomy: str
    """ESCO, GRETA or your own."""
    description: str
    """Its description ("" where the taxonomy has none)."""
    alt_labels: tuple[str, ...]
    """Its alternative labels."""


def _stored_skill(doc_id: str, metadata: Mapping[str, Any]) -> StoredSkill:
    description = next((str(metadata[k]) for k in DESCRIPTION_KEYS if metadata.get(k)), "")
    alt = str(metadata.get("alt_labels") or "")
    return StoredSkill(
        uri=str(metadata.get("uri") or doc_id),
        label=str(metadata.get("label") or doc_id),
        taxonomy=str(metadata.get("taxonomy") or ""),
        description=description,
        alt_labels=tuple(line.strip() for line in alt.splitlines() if line.strip()),
    )


def _rank(skill: StoredSkill, query: str, words: Sequence[str]) -> int | None:
    """How well `skill` matches (lower is better), or None where a word is in no label."""
    label = skill.label.casefold()
    if label == query:
        return 0
    if all(word in label for word in words):
        return 1 if label.startswith(query) else 2
    alts = [alt.casefold() for alt in skill.alt_labels]
    if any(all(word in alt for word in words) for alt in alts):
        return 3
    return None


def store_version(store: Chroma) -> tuple[str, int]:
    """What changes when the store changes: the last completed sync's digest and the count."""
    name = skill_collection(store).name
    collection = store_client(store).get_collection(name)  # fresh, not the cached metadata
    return str((collection.metadata or {}).get(SYNC_DIGEST_KEY) or ""), collection.count()


class SkillIndex:
    """The store's skills by id, searchable by their labels."""

    def __init__(self, skills: Sequence[StoredSkill]) -> None:
        """Index `skills` (one per id)."""
        self._skills = list(skills)
        self._by_uri = {skill.uri: skill for skill in self._skills}

    @classmethod
    def from_store(cls, store: Chroma) -> SkillIndex:
        """Read every skill of the store (its main passage; further views add no skill)."""
        collection = skill_collection(store)
        return cls(
            [
                _stored_skill(doc_id, metadata)
                for doc_id, metadata, _ in iter_stored(collection)
                if is_main_passage(metadata)
            ]
        )

    def get(self, uri: str) -> StoredSkill | None:
        """Return the skill with this id, or None."""
        return self._by_uri.get(uri)

    def lookup(
        self, query: str, *, limit: int, taxonomies: Sequence[str] | None = None
    ) -> list[StoredSkill]:
        """Return up to `limit` skills whose label (or an alternative label) has every word.

        Case is ignored; an exact label comes first, then labels that start with the query,
        then other labels, then alternative labels, shorter labels first within each.
        """
        text = " ".join(query.casefold().split())
        words = text.split()
        found: list[tuple[int, int, str, StoredSkill]] = []
        for skill in self._skills:
            if taxonomies and skill.taxonomy not in taxonomies:
                continue
            rank = _rank(skill, text, words)
            if rank is not None:
                found.append((rank, len(skill.label), skill.label, skill))
        found.sort(key=lambda entry: entry[:3])
        return [entry[3] for entry in found[:limit]]
