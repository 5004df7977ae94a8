import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.integration  # a subprocess
def test_import_emits_no_deprecation_warning() -> None:
    code = "import langchain_course_skills, langchain_course_skills.cli"
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


FLOW = """
import sys
from pathlib import Path
from langchain_course_skills import (
    E5Embeddings, SkillCrossEncoder, SkillReranker, SkillRetriever, build_skill_store,
    create_skill_search_tool, load_esco_skills, open_skill_store,
)
esco, bi_encoder, cross_encoder, db = sys.argv[1:]
embeddings = E5Embeddings(model_name=bi_encoder)
build_skill_store(load_esco_skills(esco), embeddings, persist_directory=db, show_progress=False)
store = open_skill_store(embeddings, persist_directory=db)
reranker = SkillReranker(cross_encoder=SkillCrossEncoder(model_name=cross_encoder), top_n=3)
tool = create_skill_search_tool(SkillRetriever(store=store, reranker=reranker))
print(tool.invoke({"course_description": "Musikmanagement", "max_skills": 2}))
store.similarity_search_with_relevance_scores("Musikmanagement", k=3)
"""


@pytest.mark.integration  # a subprocess
def test_the_whole_flow_emits_no_deprecation_warning(
    tmp_path: Path, esco_slice: Path, tiny_bi_encoder: Path, tiny_cross_encoder: Path
) -> None:
    args = [str(esco_slice), str(tiny_bi_encoder), str(tiny_cross_encoder), str(tmp_path / "db")]
    result = subprocess.run(
        [
            sys.executable,
            "-W",
            "error::DeprecationWarning",
            "-W",
            "error::FutureWarning",
            "-c",
            FLOW,
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("1. ")
