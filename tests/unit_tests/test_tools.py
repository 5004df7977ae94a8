from pathlib import Path

import pytest
from langchain_chroma import Chroma
from langchain_core.tools import BaseTool
from langchain_tests.integration_tests import ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from langchain_course_skills import (
    E5Embeddings,
    SkillCrossEncoder,
    SkillReranker,
    SkillRetriever,
    build_skill_store,
    create_skill_search_tool,
    load_esco_skills,
)

COURSE = "Musikmanagement: Personal im Musikbereich führen und Proben planen"


@pytest.fixture(scope="module")
def store(
    tmp_path_factory: pytest.TempPathFactory, esco_slice: Path, tiny_embeddings: E5Embeddings
) -> Chroma:
    return build_skill_store(
        load_esco_skills(esco_slice),
        tiny_embeddings,
        persist_directory=tmp_path_factory.mktemp("db"),
        show_progress=False,
    )


@pytest.fixture(scope="module")
def skill_tool(store: Chroma) -> BaseTool:
    return create_skill_search_tool(SkillRetriever(store=store, k=5))


class TestSkillToolUnit(ToolsUnitTests):
    @pytest.fixture(autouse=True)
    def _tool(self, skill_tool: BaseTool) -> None:
        self._tool_value = skill_tool

    @property
    def tool_constructor(self) -> BaseTool:
        return self._tool_value

    @property
    def tool_invoke_params_example(self) -> dict:
        return {"course_description": COURSE, "max_skills": 3}


class TestSkillToolIntegration(ToolsIntegrationTests):
    @pytest.fixture(autouse=True)
    def _tool(self, skill_tool: BaseTool) -> None:
        self._tool_value = skill_tool

    @property
    def tool_constructor(self) -> BaseTool:
        return self._tool_value

    @property
    def tool_invoke_params_example(self) -> dict:
        return {"course_description": COURSE, "max_skills": 3}


def test_tool_output_names_label_uri_taxonomy_and_scores(skill_tool: BaseTool) -> None:
    message = skill_tool.invoke(
        {
            "type": "tool_call",
            "id": "1",
            "name": skill_tool.name,
            "args": {"course_description": COURSE},
        }
    )

    lines = message.content.splitlines()
    assert len(lines) == 5
    assert lines[0].startswith("1. ")
    assert "| ESCO | http://data.europa.eu/esco/skill/" in lines[0]
    assert "similarity=" in lines[0]
    assert [doc.metadata["label"] for doc in message.artifact][0] in lines[0]


def test_max_skills_limits_the_results(skill_tool: BaseTool) -> None:
    assert len(skill_tool.invoke({"course_description": COURSE, "max_skills": 2}).splitlines()) == 2


def test_with_a_reranker_the_output_has_relevance_scores(
    store: Chroma, tiny_cross_encoder: Path
) -> None:
    reranker = SkillReranker(
        cross_encoder=SkillCrossEncoder(model_name=str(tiny_cross_encoder)), top_n=4
    )
    tool = create_skill_search_tool(SkillRetriever(store=store, reranker=reranker))

    content = tool.invoke({"course_description": COURSE, "max_skills": 2})

    assert len(content.splitlines()) == 2
    assert "relevance=" in content


async def test_tool_runs_asynchronously(skill_tool: BaseTool) -> None:
    content = await skill_tool.ainvoke({"course_description": COURSE, "max_skills": 1})

    assert content.startswith("1. ")


@pytest.mark.parametrize("description", ["", "   \n"])
def test_a_blank_description_comes_back_to_the_agent_as_a_tool_error(
    skill_tool: BaseTool, description: str
) -> None:
    call = {"type": "tool_call", "id": "1", "name": skill_tool.name}

    message = skill_tool.invoke({**call, "args": {"course_description": description}})

    assert message.status == "error"
    assert "course_description is empty; call the tool again" in message.content


def test_arguments_outside_the_schema_come_back_as_a_tool_error(skill_tool: BaseTool) -> None:
    call = {"type": "tool_call", "id": "1", "name": skill_tool.name}

    message = skill_tool.invoke({**call, "args": {"course_description": COURSE, "max_skills": 0}})

    assert message.status == "error"
    assert "max_skills" in message.content and "call the tool again" in message.content


def test_a_long_description_shows_the_fused_score_in_order(skill_tool: BaseTool) -> None:
    long = " ".join([COURSE] * 40)  # far over the passage size: read in passages

    message = skill_tool.invoke({"course_description": long, "max_skills": 3})

    fused = [float(line.split("fused=")[1].split()[0]) for line in message.splitlines()]
    assert len(fused) == 3
    assert fused == sorted(fused, reverse=True)
