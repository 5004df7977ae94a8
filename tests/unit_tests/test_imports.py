import langchain_course_skills

EXPECTED_ALL = [
    "CourseInputError",
    "CourseSkillsError",
    "E5Embeddings",
    "MapOutputError",
    "MapReport",
    "ModelLoadError",
    "RetrieverSpec",
    "SkillCrossEncoder",
    "SkillReranker",
    "SkillRetriever",
    "StoreConflictError",
    "StoreCorruptError",
    "StoreMismatchError",
    "StoreNotFoundError",
    "StoreRequestError",
    "StoreUnavailableError",
    "SyncReport",
    "TaxonomyError",
    "build_skill_store",
    "create_skill_search_tool",
    "load_esco_skills",
    "load_greta",
    "load_skill_table",
    "load_taxonomy",
    "map_courses",
    "open_skill_store",
    "read_courses",
    "read_store_fingerprint",
    "skill_collection",
    "sync_skill_store",
]


def test_all_is_the_public_surface() -> None:
    assert sorted(langchain_course_skills.__all__) == sorted(EXPECTED_ALL)
