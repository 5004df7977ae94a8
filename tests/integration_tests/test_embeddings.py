from pathlib import Path

import numpy as np
import pytest

from langchain_course_skills import E5Embeddings


def test_vectors_equal_the_model_cards_huggingface_bge_configuration(minilm_path: Path) -> None:
    from langchain_community.embeddings import HuggingFaceBgeEmbeddings

    texts = [
        "WordPress",
        "Website-Wireframe erstellen",
        "Software für Content-Management-Systeme nutzen",
    ]
    course = "WordPress Grundlagen: eine eigene Website erstellen und pflegen"
    with pytest.warns(Warning):  # the community class is deprecated; that is why we exist
        recipe = HuggingFaceBgeEmbeddings(
            model_name=str(minilm_path),
            query_instruction="query: ",
            embed_instruction="passage: ",
            encode_kwargs={"normalize_embeddings": True},
        )
    exact = E5Embeddings(model_name=str(minilm_path), backend="torch", precision="fp32")
    default = E5Embeddings(model_name=str(minilm_path))  # the fastest quality-neutral runtime

    np.testing.assert_allclose(
        exact.embed_documents(texts), recipe.embed_documents(texts), atol=1e-5
    )
    np.testing.assert_allclose(exact.embed_query(course), recipe.embed_query(course), atol=1e-5)
    cosines = np.sum(
        np.array(default.embed_documents([course, *texts]))
        * np.array(recipe.embed_documents([course, *texts])),
        axis=1,
    )
    assert cosines.min() >= 0.9999


def test_bf16_vectors_stay_close_to_fp32(
    minilm_path: Path, minilm_embeddings: E5Embeddings
) -> None:
    bf16 = E5Embeddings(model_name=str(minilm_path), precision="bf16")
    texts = ["manage musical staff", "use content management system software"]

    cosine = np.sum(
        np.array(bf16.embed_documents(texts)) * minilm_embeddings.embed_documents(texts), axis=1
    )

    assert cosine.min() > 0.99
