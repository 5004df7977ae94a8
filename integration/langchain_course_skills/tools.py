"""A LangChain tool that lets an agent look up the skills a course teaches."""

from __future__ import annotations

from langchain_core.documents import Document
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from langchain_course_skills.compressors import RELEVANCE_KEY
from langchain_course_skills.retrievers import SIMILARITY_KEY, SkillRetriever

DEFAULT_TOOL_NAME = "course_skill_search"
DEFAULT_TOOL_DESCRIPTION = (
    "Find the skills a course teaches. Input: the course description (title, content, "
    "learning goals; German or another EU language) and optionally how many skills to return. "
    "Output: the best matching skills of the taxonomy, best first, each with its label, URI, "
    "taxonomy and scores (similarity: cosine similarity; relevance: reranker score in [0, 1])."
)


class SkillSearchInput(BaseModel):
    """Arguments of the skill search tool."""

    course_description: str = Field(description="The course description to find skills for.")
    max_skills: int | None = Field(
        default=None, ge=1, le=100, description="How many skills to return (optional)."
    )


def format_skills(documents: list[Document]) -> str:
    """Render skills as numbered lines a language model can read."""
    if not documents:
        return "No matching skills found."
    lines = []
    for rank, doc in enumerate(documents, start=1):
        meta = doc.metadata
        scores = [f"similarity={meta[SIMILARITY_KEY]:.3f}"] if SIMILARITY_KEY in meta else []
        if RELEVANCE_KEY in meta:
            scores.append(f"relevance={meta[RELEVANCE_KEY]:.3f}")
        label = meta.get("label", doc.page_content)
        uri = meta.get("uri", doc.id or "")
        lines.append(f"{rank}. {label} | {meta.get('taxonomy', '')} | {uri} | {' '.join(scores)}")
    return "\n".join(lines)


def create_skill_search_tool(
    retriever: SkillRetriever,
    *,
    name: str = DEFAULT_TOOL_NAME,
    description: str = DEFAULT_TOOL_DESCRIPTION,
) -> BaseTool:
    """Wrap a `SkillRetriever` as a tool for agents.

    The tool's content lists each skill's label, taxonomy, URI and scores; its artifact is
    the list of documents (for code that reads the tool message).

    Example:
        >>> tool = create_skill_search_tool(retriever)
        >>> print(tool.invoke({"course_description": "WordPress Grundlagen ...", "max_skills": 2}))
        1. WordPress | ESCO | http://data.europa.eu/esco/skill/... | similarity=0.874 ...
        2. Software für Content-Management-Systeme nutzen | ESCO | ... | similarity=0.801
    """

    def _limits(max_skills: int | None) -> tuple[int | None, int | None]:
        """Return (k, top_n): without a reranker fewer candidates, with one fewer kept."""
        if max_skills is None:
            return None, None
        if retriever.reranker is None:
            return max_skills, None
        return None, min(max_skills, retriever.k)

    def search(
        course_description: str, max_skills: int | None = None
    ) -> tuple[str, list[Document]]:
        k, top_n = _limits(max_skills)
        documents = retriever.invoke(course_description, k=k, top_n=top_n)
        return format_skills(documents), documents

    async def asearch(
        course_description: str, max_skills: int | None = None
    ) -> tuple[str, list[Document]]:
        k, top_n = _limits(max_skills)
        documents = await retriever.ainvoke(course_description, k=k, top_n=top_n)
        return format_skills(documents), documents

    return StructuredTool.from_function(
        func=search,
        coroutine=asearch,
        name=name,
        description=description,
        args_schema=SkillSearchInput,
        response_format="content_and_artifact",
    )
