import subprocess
import sys

import langchain_course_skills

EXPECTED_ALL = [
    "CourseSkillsError",
    "E5Embeddings",
    "ModelLoadError",
    "SkillCrossEncoder",
    "SkillReranker",
    "SkillRetriever",
    "StoreMismatchError",
    "StoreNotFoundError",
    "SyncReport",
    "TaxonomyError",
    "build_skill_store",
    "create_skill_search_tool",
    "load_esco_skills",
    "load_greta",
    "load_skill_table",
    "open_skill_store",
    "sync_skill_store",
]


def test_all_is_the_public_surface() -> None:
    assert sorted(langchain_course_skills.__all__) == sorted(EXPECTED_ALL)


def test_import_emits_no_deprecation_warning() -> None:
    code = "import langchain_course_skills, langchain_course_skills.cli"
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
