"""A LangChain tool that lets an agent look up the skills a course teaches."""

from __future__ import annotations

from langchain_core.documents import Document
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, Field, ValidationError

from langchain_course_skills.retrievers import SkillRetriever
from langchain_course_skills.vocabulary import skill_hits

DEFAULT_TOOL_NAME = "course_skill_search"
DEFAULT_TOOL_DESCRIPTION = (
    "Find the skills a course teaches. Input: the course description (title, content, "
    "learning goals; German or another EU language) and optionally how many skills to return. "
    "Output: the best matching skills of the taxonomy, best first, each with its label, URI, "
    "taxonomy and scores (similarity: cosine similarity; relevance: reranker score in [0, 1]; "
    "fused: the score that ranked the skills of a long description's passages)."
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
    for hit in skill_hits(documents):
        scores = [
            f"{name}={value:.3f}"
            for name, value in (
                ("similarity", hit.similarity),
                ("relevance", hit.relevance_score),
                ("fused", hit.fused_score),
            )
            if value is not None
        ]
        lines.append(f"{hit.rank}. {hit.label} | {hit.taxonomy} | {hit.uri} | {' '.join(scores)}")
    return "\n".join(lines)


def _check_description(course_description: str) -> None:
    if not course_description.strip():
        msg = (
            "course_description is empty; call the tool again with the course's title, "
            "content and learning goals"
        )
        raise ToolException(msg)


def _invalid_arguments(error: ValidationError) -> str:
    """What the agent reads when its arguments do not fit the tool's schema."""
    problems = "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in error.errors()
    )
    return (
        f"invalid arguments ({problems}); call the tool again with course_description (text) "
        "and optionally max_skills (1 to 100)"
    )


def create_skill_search_tool(
    retriever: SkillRetriever,
    *,
    name: str = DEFAULT_TOOL_NAME,
    description: str = DEFAULT_TOOL_DESCRIPTION,
) -> BaseTool:
    """Wrap a `SkillRetriever` as a tool for agents.

    The tool's content lists each skill's label, taxonomy, URI and scores; its artifact is
    the list of documents (for code that reads the tool message). An empty description or
    arguments outside the schema come back to the agent as an error message (status "error"),
    so that it can call again, instead of ending the run.

    Example:
        >>> tool = create_skill_search_tool(retriever)
        >>> print(tool.invoke({"course_description": "WordPress Grundlagen ...", "max_skills": 2}))
        1. WordPress | ESCO | http://data.europa.eu/esco/skill/... | similarity=0.874 ...
        2. Software für Content-Management-Systeme nutzen | ESCO | ... | similarity=0.801
    """

    def _limits(max_skills: int | None) -> tuple[int | None, int | None]:
        """Return (k, top_n): the retriever's candidates, of which the best `max_skills`."""
        if max_skills is None:
            return None, None
        return None, min(max_skills, retriever.k)

    def search(
        course_description: str, max_skills: int | None = None
    ) -> tuple[str, list[Document]]:
        _check_description(course_description)
        k, top_n = _limits(max_skills)
        documents = retriever.invoke(course_description, k=k, top_n=top_n)
        return format_skills(documents), documents

    async def asearch(
        course_description: str, max_skills: int | None = None
    ) -> tuple[str, list[Document]]:
        _check_description(course_description)
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
        handle_tool_error=True,  # a bad argument comes back to the agent as the tool's answer
        handle_validation_error=_invalid_arguments,
    )
