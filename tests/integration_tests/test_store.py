from pathlib import Path

import chromadb
import pytest

from langchain_course_skills import (
    E5Embeddings,
    StoreMismatchError,
    build_skill_store,
    load_esco_skills,
    open_skill_store,
    sync_skill_store,
)
from langchain_course_skills.store import (
    collection_space,
    skill_collection,
)
from tests.support.store import _skills


def test_opening_with_a_different_model_of_another_dimension_is_refused(
    tmp_path: Path, tiny_embeddings: E5Embeddings, minilm_embeddings: E5Embeddings
) -> None:
    build_skill_store(
        _skills("WordPress"), tiny_embeddings, persist_directory=tmp_path, show_progress=False
    )

    with pytest.raises(
        StoreMismatchError, match=r"built with model .*32-d.*opened it with .*384-d"
    ):
        open_skill_store(minilm_embeddings, persist_directory=tmp_path)


def test_opening_with_a_different_model_of_the_same_dimension_is_refused(
    tmp_path: Path,
    tiny_embeddings: E5Embeddings,
    minilm_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from langchain_course_skills.testing import build_random_bi_encoder

    other = E5Embeddings(
        model_name=build_random_bi_encoder(tmp_path_factory.mktemp("other"), minilm_path, seed=1),
        precision="fp32",
    )
    build_skill_store(
        _skills("WordPress"), tiny_embeddings, persist_directory=tmp_path, show_progress=False
    )

    with pytest.raises(StoreMismatchError, match="Pass embeddings for model"):
        open_skill_store(other, persist_directory=tmp_path)


def test_server_store_builds_reopens_and_refuses_like_the_embedded_one(
    chroma_http_client: chromadb.api.ClientAPI,
    esco_slice: Path,
    tiny_embeddings: E5Embeddings,
    minilm_embeddings: E5Embeddings,
) -> None:
    docs = load_esco_skills(esco_slice)
    name = "server-skills"

    first = sync_skill_store(
        docs, tiny_embeddings, client=chroma_http_client, collection_name=name, show_progress=False
    )
    second = sync_skill_store(
        docs, tiny_embeddings, client=chroma_http_client, collection_name=name, show_progress=False
    )
    store = open_skill_store(tiny_embeddings, client=chroma_http_client, collection_name=name)

    assert first.skills == 300
    assert first.added == second.unchanged == skill_collection(store).count() > 300  # passages
    assert collection_space(skill_collection(store)) == "cosine"
    assert len(store.similarity_search("manage musical staff", k=3)) == 3
    with pytest.raises(StoreMismatchError):
        open_skill_store(minilm_embeddings, client=chroma_http_client, collection_name=name)
