"""What a store holds: its records, taxonomy and view counts, layout and description."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_chroma import Chroma

from langchain_course_skills.errors import TaxonomyError
from langchain_course_skills.store._faults import fault_point, page_size
from langchain_course_skills.store.fingerprint import (
    LANGUAGES_KEY,
    SKILLS_KEY,
    SYNC_COUNT_KEY,
    collection_space,
    read_fingerprint,
    stored_views,
)
from langchain_course_skills.store.location import skill_collection
from langchain_course_skills.views import (
    SINGLE_VIEW,
    is_main_passage,
    passage_view,
)

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

_READ_PAGE = 5000  # skills read back per request (under Chroma's local limit of 5,461)


def iter_stored(
    collection: Collection, *, with_documents: bool = False
) -> Iterator[tuple[str, Mapping[str, Any], str | None]]:
    """Yield (id, metadata, text or None) for every stored skill, a page at a time."""
    include = ["metadatas", "documents"] if with_documents else ["metadatas"]
    size = page_size(_READ_PAGE)
    offset = 0
    while True:
        result = collection.get(include=include, limit=size, offset=offset)  # type: ignore[arg-type]
        fault_point(f"read:{offset // size + 1}")
        texts = result["documents"] if with_documents else None
        for index, doc_id in enumerate(result["ids"]):
            metadata = (result["metadatas"] or [])[index] or {}
            yield doc_id, metadata, texts[index] if texts else None
        if len(result["ids"]) < size:
            return
        offset += size


def taxonomy_counts(collection: Collection) -> Counter[str]:
    """Count a collection's skills per `metadata["taxonomy"]` (a skill's further views aside)."""
    return Counter(
        str(meta.get("taxonomy", "?"))
        for _, meta, _ in iter_stored(collection)
        if is_main_passage(meta)
    )


def check_taxonomies(collection: Collection, names: Sequence[str]) -> None:
    """Raise `TaxonomyError` if the store has no skill of one of `names` (one request each).

    Taxonomy names are matched exactly ("ESCO", not "esco"): a filter with an unknown name
    would silently find nothing.
    """
    missing = [
        name
        for name in names
        if not collection.get(where={"taxonomy": name}, limit=1, include=[])["ids"]
    ]
    if missing:
        stored = sorted(taxonomy_counts(collection))
        msg = (
            f"the store has no skills of taxonomy {missing} (names are case-sensitive); it "
            f"has {stored}: filter by one of those"
        )
        raise TaxonomyError(msg)


@dataclass(frozen=True)
class StoreLayout:
    """How a store holds its skills: the passages a search must fuse per skill."""

    views: tuple[str, ...]
    """The view kinds of each skill."""
    languages: tuple[str, ...]
    """Languages of translated views."""
    passages_per_skill: float
    """Stored passages per skill (1.0 for a store of one passage per skill)."""

    @property
    def single(self) -> bool:
        """Whether each skill is one passage (no fusion needed).

        So is a store with several view kinds whose skills have none but their label (GRETA,
        a table without alternative labels or descriptions): its results stay as before views.
        """
        return (self.views == SINGLE_VIEW and not self.languages) or self.passages_per_skill <= 1


def store_layout(store: Chroma) -> StoreLayout:
    """Read a store's views and languages from its fingerprint (no request to the store)."""
    collection = skill_collection(store)
    metadata = collection.metadata or {}
    stored = read_fingerprint(collection)
    languages = tuple(filter(None, str(stored.get(LANGUAGES_KEY) or "").split(",")))
    views = stored_views(stored)
    skills = int(stored.get(SKILLS_KEY) or 0)
    passages = int(metadata.get(SYNC_COUNT_KEY) or 0)
    if views != SINGLE_VIEW or languages:
        passages = passages or collection.count()
    ratio = passages / skills if skills and passages > skills else 1.0
    return StoreLayout(views=views, languages=languages, passages_per_skill=ratio)


def describe_collection(collection: Collection) -> dict[str, Any]:
    """Describe a skill store as `course-skills info` and the service's `/v1/info` show it.

    Returns:
        `collection`, `count` (the passages Chroma holds), `skills` (fewer in a store of
        several views per skill), `distance`, `taxonomies` (skills per taxonomy),
        `fingerprint` (how it was built: `read_fingerprint`) and, for a store of several
        views or languages, `passages` (per view, as `view_counts`). One pass over the
        stored metadata.
    """
    taxonomies: Counter[str] = Counter()
    views: Counter[str] = Counter()
    for _, metadata, _ in iter_stored(collection):
        views[passage_view(metadata)] += 1
        if is_main_passage(metadata):
            taxonomies[str(metadata.get("taxonomy", "?"))] += 1
    fingerprint = read_fingerprint(collection)
    info: dict[str, Any] = {
        "collection": collection.name,
        "count": collection.count(),
        "skills": sum(taxonomies.values()),
        "distance": collection_space(collection),
        "taxonomies": dict(sorted(taxonomies.items())),
        "fingerprint": fingerprint,
    }
    if stored_views(fingerprint) != SINGLE_VIEW or fingerprint.get(LANGUAGES_KEY):
        info["passages"] = dict(sorted(views.items()))
    return info


def view_counts(collection: Collection) -> dict[str, int]:
    """Count a collection's passages per view ("label", "alt", "de:label", ...)."""
    counts: dict[str, int] = {}
    for _, metadata, _ in iter_stored(collection):
        view = passage_view(metadata)
        counts[view] = counts.get(view, 0) + 1
    return dict(sorted(counts.items()))
