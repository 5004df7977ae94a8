"""Request and response models of the HTTP service, with the limits that protect it.

Every request model forbids unknown fields, so a misspelt option is a 422 that names it instead
of a silent default.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_serializer,
)

from langchain_course_skills.vocabulary import DEFAULT_K, OPTIONAL_HIT_KEYS

MAX_TEXT_CHARS = 20_000  # characters of one course text (a long description is ~10,000)
# bytes of one request body: 32 courses of 20,000 characters, each escaped as \uXXXX in JSON
MAX_BODY_BYTES = 4 * 1024 * 1024
# A catalogue for review comes in one body: 128 MiB holds about 10,000 courses of 1,500 words.
MAX_CATALOGUE_BYTES = 128 * 1024 * 1024
CATALOGUE_PATH = "/v1/review/catalogue"
MAX_K = 200  # candidates per text; the model card evaluates with 30
MAX_MAP_COURSES = 32  # courses per /v1/skills/map request; catalogues go to `course-skills map`
MAX_TAXONOMIES = 20  # taxonomy names in one filter
MAX_NAME_CHARS = 200  # a taxonomy name or a course id
MAX_URI_CHARS = 2_000  # a skill id


def _not_blank(text: str) -> str:
    if not text.strip():
        msg = "must contain text, not only whitespace"
        raise ValueError(msg)
    return text


CourseText = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS), AfterValidator(_not_blank)
]
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_NAME_CHARS), AfterValidator(_not_blank)
]
Uri = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_URI_CHARS), AfterValidator(_not_blank)
]
VerdictName = Literal["accepted", "rejected"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class SearchOptions(_Model):
    """How to search: shared by /v1/skills/search and /v1/skills/map."""

    k: int = Field(default=DEFAULT_K, ge=1, le=MAX_K)
    """Candidates retrieved by cosine similarity."""
    top_n: int | None = Field(default=None, ge=1, le=MAX_K)
    """Skills returned (at most k); default: 10 with re-ranking, k without."""
    taxonomies: list[Name] | None = Field(default=None, min_length=1, max_length=MAX_TAXONOMIES)
    """Only skills of these taxonomies, for example ["ESCO"]; see /v1/info for those stored."""
    min_score: float | None = Field(default=None, ge=0, le=1)
    """Drop skills scoring below this: the relevance with re-ranking, else the similarity."""
    rerank: bool | None = None
    """Re-rank the candidates with the cross-encoder; default: when the service has one."""
    keep_rejected: bool = False
    """Keep the skills a curator rejected for this exact text (marked `verdict: rejected`);
    by default they are left out."""

    @field_validator("top_n")
    @classmethod
    def _at_most_k(cls, value: int | None, info: ValidationInfo) -> int | None:
        k = info.data.get("k")
        if value is not None and k is not None and value > k:
            msg = f"top_n ({value}) is larger than k ({k}); raise k or lower top_n"
            raise ValueError(msg)
        return value


class SearchRequest(SearchOptions):
    """One course text to map."""

    text: CourseText
    """The course description (up to 20,000 characters)."""


class Course(_Model):
    """One course of a /v1/skills/map request."""

    id: Name
    """The course's id, returned with its skills."""
    text: CourseText
    """The course description."""


class MapRequest(SearchOptions):
    """Several courses, mapped in one batch."""

    courses: list[Course] = Field(min_length=1, max_length=MAX_MAP_COURSES)
    """Up to 32 courses with unique ids."""

    @field_validator("courses")
    @classmethod
    def _unique_ids(cls, courses: list[Course]) -> list[Course]:
        seen: set[str] = set()
        for course in courses:
            if course.id in seen:
                msg = f"course id {course.id!r} appears twice; ids must be unique"
                raise ValueError(msg)
            seen.add(course.id)
        return courses


class Evidence(_Model):
    """The passage of the course text that found a skill, as character offsets."""

    start: int = Field(ge=0)
    """Offset of the passage's first character."""
    end: int = Field(ge=0)
    """Offset just after its last character."""


class Skill(_Model):
    """One skill found for a course text, best first."""

    rank: int
    """1 for the best skill."""
    label: str
    """The skill's name."""
    uri: str
    """The skill's id (the ESCO URI for ESCO)."""
    taxonomy: str
    """ESCO, GRETA or your own."""
    similarity: float | None
    """Cosine similarity of course text and skill (first stage)."""
    relevance_score: float | None
    """The cross-encoder's score in [0, 1]; null without re-ranking."""
    text: str
    """The skill text the models saw."""
    evidence: Evidence | None
    """The passage of the course text that found the skill; null: the whole text."""
    matched_view: str | None = None
    """In a store with several views per skill: the view that matched ("alt", "de:label", ...)."""
    matched_text: str | None = None
    """In a store with several views per skill: the text of the view that matched."""
    fused_score: float | None = None
    """For a text read in several passages: the score its passages' candidates were ranked
    by (the `fusion` rule); without re-ranking, the skills are in its order."""
    verdict: VerdictName | None = None
    """A curator's latest verdict on this skill for this exact course text; absent: none."""

    @model_serializer(mode="wrap")
    def _optional_keys(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave out the keys that `SkillHit.to_record` leaves out where they are null."""
        data: dict[str, Any] = handler(self)
        for key in OPTIONAL_HIT_KEYS:
            if data.get(key) is None:
                data.pop(key, None)
        return data


class SearchResponse(_Model):
    """The skills of one course text."""

    skills: list[Skill]
    """Best first."""
    reranked: bool
    """Whether the cross-encoder re-ranked them."""
    took_ms: float
    """Time spent searching, queueing included."""


class CourseSkills(_Model):
    """The skills of one course of a map request."""

    id: str
    """The course's id, as sent."""
    skills: list[Skill]
    """Best first."""


class MapResponse(_Model):
    """The skills of every course, in request order."""

    courses: list[CourseSkills]
    """One entry per course sent."""
    reranked: bool
    """Whether the cross-encoder re-ranked them."""
    took_ms: float
    """Time spent mapping, queueing included."""


class FeedbackRequest(_Model):
    """A curator's verdict on one (course text, skill) pair."""

    text: CourseText
    """The course text the skill was found for."""
    uri: Uri
    """The skill's id; it must be a skill of the store."""
    verdict: VerdictName
    """accepted or rejected; the latest verdict on a pair counts."""
    course_id: Name | None = None
    """The course's id in your catalogue, kept for the export."""
    similarity: float | None = Field(default=None, ge=-1.0, le=1.0)
    """The similarity shown to the curator."""
    relevance_score: float | None = Field(default=None, ge=0.0, le=1.0)
    """The relevance score shown to the curator."""
    evidence: Evidence | None = None
    """The passage shown as evidence."""
    curator: Name | None = None
    """Who gives the verdict (a name or initials): the export keeps each curator's verdicts
    and measures how far curators agree."""


class FeedbackResponse(_Model):
    """The verdict as stored."""

    id: int
    """Row id; later verdicts have larger ids."""
    text_sha256: str
    """SHA-256 of the stripped course text."""
    uri: str
    """The skill's id."""
    label: str
    """The skill's label, from the store."""
    taxonomy: str
    """The skill's taxonomy, from the store."""
    verdict: VerdictName
    """accepted or rejected."""
    created_at: str
    """When it was stored (ISO 8601, UTC)."""
    curator: str | None = None
    """Who gave it, as sent; null: not named."""
    model: str | None = None
    """The embedding model of the service that stored it (what proposed the skill)."""
    reranker: str | None = None
    """The service's cross-encoder; null: none."""
    store_fingerprint: str | None = None
    """SHA-256 (first 16 hex digits) of the store's fingerprint, as /v1/info shows it."""


class VerdictsRequest(_Model):
    """Which course's verdicts to return."""

    text: CourseText
    """The course text."""


class VerdictsResponse(_Model):
    """The latest verdict per skill for one course text."""

    text_sha256: str
    """SHA-256 of the stripped course text."""
    verdicts: dict[str, VerdictName]
    """Skill id -> accepted or rejected."""


class CollectionInfo(_Model):
    """The skill store the service reads."""

    collection: str
    """The Chroma collection."""
    count: int
    """Passages stored: one per skill, more in a store with several views per skill."""
    skills: int
    """Skills stored."""
    distance: str
    """The index's distance (cosine)."""
    taxonomies: dict[str, int]
    """Skills per taxonomy."""
    fingerprint: dict[str, Any]
    """How the store was built: model, dimension, prefixes, template, version, HNSW."""
    passages: dict[str, int] | None = None
    """Passages per view ("label", "alt", "de:label", ...) of a store with several views or
    languages per skill; absent for one passage per skill."""


class ModelsInfo(_Model):
    """The models the service loaded."""

    embedding: str
    """The bi-encoder (Hub id or local folder)."""
    reranker: str | None
    """The cross-encoder; null when the service runs without one."""
    device: str
    """Torch device option."""
    precision: str
    """Number format option."""
    backend: str = "auto"
    """Backend option: torch, onednn, onnx, openvino or auto."""
    runtime: dict[str, str] = Field(default_factory=dict)
    """What computes each loaded model ("embedding", "reranker"), as precision and backend
    "auto" resolved, e.g. "openvino bf16"."""


class Limits(_Model):
    """What one request may ask for, and how much work the service queues."""

    max_text_chars: int = MAX_TEXT_CHARS
    """Characters of one course text."""
    max_body_bytes: int = MAX_BODY_BYTES
    """Bytes of one request body; a larger one is answered 413."""
    max_catalogue_bytes: int = MAX_CATALOGUE_BYTES
    """Bytes of a catalogue upload for review (`PUT /v1/review/catalogue`)."""
    max_k: int = MAX_K
    """Candidates per text."""
    max_map_courses: int = MAX_MAP_COURSES
    """Courses per map request."""
    max_concurrency: int
    """Searches run at once in this worker."""
    max_queue: int
    """Searches waiting in this worker; more get 503 with Retry-After."""


class InfoResponse(_Model):
    """What the service serves."""

    version: str
    """The package version."""
    store: CollectionInfo
    """The skill store, as verified at start."""
    models: ModelsInfo
    """The loaded models."""
    limits: Limits
    """Request limits."""
    feedback: dict[str, int]
    """Pairs accepted and rejected so far (latest verdicts)."""


class Health(_Model):
    """Liveness or readiness."""

    status: Literal["ok", "ready", "loading", "failed"]
    """ok (alive), ready, loading (models not loaded yet), failed (see detail)."""
    detail: str | None = None
    """Why the service is not ready."""


class ErrorResponse(BaseModel):
    """An error: `message` in one line, `detail` as FastAPI gives it."""

    detail: Any
    """A string, or for 422 a list of {loc, msg, type}."""
    message: str | None = None
    """For 422: every field and what is wrong with it, in one line."""


# --- courses of the feedback store (GET /v1/courses) ---------------------------------------------

DEFAULT_COURSES_PAGE = 50  # courses per page of /v1/courses
MAX_COURSES_PAGE = 500  # at most per page: a page stays a small answer


class CoursesQuery(_Model):
    """Which page of the curated courses to return (query parameters)."""

    limit: int = Field(default=DEFAULT_COURSES_PAGE, ge=1, le=MAX_COURSES_PAGE)
    """Courses per page, 1 to 500."""
    offset: int = Field(default=0, ge=0)
    """Courses to skip: 0, then the `next_offset` of the page before."""


class CourseSummary(_Model):
    """One course that curators gave verdicts on."""

    text_sha256: str
    """SHA-256 of the stripped course text, which identifies the course."""
    course_id: str | None
    """The course's id in your catalogue, if a verdict brought one."""
    first_seen: str
    """When its first verdict was stored (ISO 8601, UTC)."""
    accepted: int
    """Skills accepted now (latest verdicts)."""
    rejected: int
    """Skills rejected now (latest verdicts)."""


class CoursesResponse(_Model):
    """A page of the curated courses, oldest first."""

    courses: list[CourseSummary]
    """At most `limit` courses, ordered by first_seen, then text_sha256."""
    total: int
    """Courses in the feedback store when the page was read."""
    next_offset: int | None
    """The offset of the next page; null: this page is the last."""


# --- review mode: a catalogue held for review (/v1/review/...) and the taxonomy's labels --------

MAX_LOOKUP = 50  # skills one label lookup returns
MAX_DESCRIBE = 200  # skills one describe request names (as many as one search returns)
ReviewStatus = Literal["open", "reviewed", "all"]


class ReviewUpload(_Model):
    """A catalogue to review, optionally with the `course-skills map` output of it."""

    catalogue: str = Field(min_length=1)
    """The catalogue as JSONL, one course per line: `id`, and `text` or `title` and
    `description`; a line may carry the `skills` it was mapped to."""
    mapped: str | None = Field(default=None, min_length=1)
    """A `course-skills map` output of this catalogue, JSONL (id, text_hash, skills) or CSV
    (with its header), joined by id; it has no course text, so it comes only with its
    catalogue."""
    name: Name | None = None
    """The catalogue's file name, shown to curators; default catalogue.jsonl."""
    text_columns: list[Name] | None = Field(default=None, min_length=1, max_length=20)
    """The fields joined into a course's text (with a blank line), as `map --text-column`
    names them; default: `title`, `description` and `text`, those a line has."""


class ReviewCatalogue(_Model):
    """The catalogue held for review."""

    name: str
    """Its file name."""
    uploaded_at: str
    """When it was uploaded (ISO 8601, UTC)."""
    courses: int
    """Courses in it."""
    mapped: int
    """Courses with mapped skills; the page searches the others when they are opened."""


class ReviewCoursesQuery(_Model):
    """Which courses of the held catalogue to list (query parameters)."""

    status: ReviewStatus = "all"
    """open (not reviewed), reviewed, or all."""
    curator: Name | None = None
    """Reviewed means marked done by this curator; default: by anyone."""
    min_score: float | None = Field(default=None, ge=0, le=1)
    """Only courses with a mapped skill scoring at least this (relevance where re-ranked,
    else similarity); unmapped courses are kept."""
    limit: int = Field(default=DEFAULT_COURSES_PAGE, ge=1, le=MAX_COURSES_PAGE)
    """Courses per page, 1 to 500."""
    offset: int = Field(default=0, ge=0)
    """Courses to skip: 0, then the `next_offset` of the page before."""


class ReviewCourseSummary(_Model):
    """One course of the held catalogue."""

    id: str
    """Its id in the catalogue."""
    position: int
    """1 for the catalogue's first course."""
    reviewed: bool
    """Marked done (by the curator asked about, or by anyone)."""
    reviewed_by: list[str]
    """Every curator who marked it done."""
    skills: int | None
    """Mapped skills; null: not mapped."""
    best_score: float | None
    """The best score of its mapped skills."""
    accepted: int
    """Skills accepted for its text now (latest verdicts, any curator)."""
    rejected: int
    """Skills rejected for its text now."""


class ReviewCoursesResponse(_Model):
    """A page of the held catalogue, in catalogue order, with the review's progress."""

    courses: list[ReviewCourseSummary]
    """At most `limit` courses."""
    total: int
    """Courses that match `status` and `min_score`."""
    catalogue_courses: int
    """Courses in the catalogue."""
    reviewed: int
    """Courses of the catalogue reviewed (by `curator`, or by anyone)."""
    next_offset: int | None
    """The offset of the next page; null: this page is the last."""


class ReviewSkill(Skill):
    """A skill of a course under review: as mapped, with its description and verdict."""

    description: str | None = None
    """The skill's description in the store; null where the store has none."""
    curator: str | None = None
    """Who gave the latest verdict; null: nobody named, or no verdict."""


class ReviewCourseDetail(_Model):
    """One course of the held catalogue, with everything its review needs."""

    id: str
    """Its id in the catalogue: send it as `course_id` with each verdict."""
    position: int
    """1 for the catalogue's first course."""
    text: str
    """Its exact text: send it as `text` with each verdict."""
    text_sha256: str
    """SHA-256 of the stripped text, which keys its verdicts."""
    mapped: bool
    """Whether the catalogue brought its skills; if not, search its text."""
    skills: list[ReviewSkill]
    """The mapped skills, best first, each with its latest verdict (rejected ones kept),
    then accepted skills the mapping did not propose, without scores."""
    reviewed_by: list[str]
    """Every curator who marked it done."""


class ReviewDone(_Model):
    """A curator marks a course reviewed (or takes the mark back)."""

    curator: Name
    """Who reviewed it."""
    done: bool = True
    """true: reviewed; false: take this curator's mark back."""


class ReviewDoneResponse(_Model):
    """Who has reviewed the course now."""

    id: str
    """The course's id."""
    reviewed_by: list[str]
    """Every curator who marked it done."""


class LookupQuery(_Model):
    """A search of the store's skill labels (query parameters)."""

    q: Name
    """Words that the label (or an alternative label) holds, in any case."""
    limit: int = Field(default=10, ge=1, le=MAX_LOOKUP)
    """Skills returned, 1 to 50."""


class StoreSkill(_Model):
    """One skill of the store."""

    uri: str
    """Its id: send it as `uri` with a verdict."""
    label: str
    """Its preferred label."""
    taxonomy: str
    """ESCO, GRETA or your own."""
    description: str | None
    """Its description; null where the store has none."""


class LookupResponse(_Model):
    """The skills whose labels match, best match first."""

    skills: list[StoreSkill]
    """Exact labels first, then labels starting with the query, then the others."""


class DescribeRequest(_Model):
    """Which skills to describe."""

    uris: list[Uri] = Field(min_length=1, max_length=MAX_DESCRIBE)
    """Skill ids, up to 200."""


class DescribeResponse(_Model):
    """The skills named that the store has, in request order."""

    skills: list[StoreSkill]
    """One per id the store has; ids it lacks are left out."""
