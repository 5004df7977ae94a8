"""SkillRetriever, SkillCrossEncoder and SkillReranker on real stores and models."""

from pathlib import Path

from langchain_core.documents import Document

from langchain_course_skills import (
    E5Embeddings,
    SkillRetriever,
    build_skill_store,
)


def test_the_right_skill_ranks_first_with_real_semantics(
    tmp_path: Path, minilm_embeddings: E5Embeddings
) -> None:
    labels = [
        "use content management system software",
        "create website wireframe",
        "WordPress",
        "manage musical staff",
        "bake bread",
        "drive a forklift",
        "perform bookkeeping",
        "teach mathematics",
        "repair bicycles",
        "operate a crane",
        "write press releases",
        "analyse blood samples",
        "prune trees",
        "weld metal parts",
        "translate legal documents",
        "plan a marketing campaign",
        "conduct job interviews",
        "install electrical wiring",
        "care for elderly people",
        "prepare tax returns",
        "design logos",
        "program in Python",
        "manage a warehouse",
        "sell insurance",
        "coach football",
        "clean hotel rooms",
        "paint walls",
        "train dogs",
        "lay bricks",
        "brew beer",
        "manage a budget",
        "write SQL queries",
        "take blood pressure",
        "fly a drone",
        "sew garments",
        "negotiate contracts",
    ]
    docs = [
        Document(id=str(i), page_content=label, metadata={"label": label, "taxonomy": "TEST"})
        for i, label in enumerate(labels)
    ]
    store = build_skill_store(
        docs, minilm_embeddings, persist_directory=tmp_path, show_progress=False
    )

    top = SkillRetriever(store=store, k=3).invoke(
        "Bake your own sourdough loaves at home: a baking course"
    )

    assert top[0].metadata["label"] == "bake bread"
