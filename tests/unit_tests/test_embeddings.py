from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from langchain_course_skills import E5Embeddings, ModelLoadError
from langchain_course_skills.embeddings import PASSAGE_PREFIX, QUERY_PREFIX


@pytest.fixture(scope="module")
def tiny_path(tiny_bi_encoder: Path) -> str:
    return str(tiny_bi_encoder)


class TestE5EmbeddingsUnit(EmbeddingsUnitTests):
    @pytest.fixture(autouse=True)
    def _model_path(self, tiny_path: str) -> None:
        self._path = tiny_path

    @property
    def embeddings_class(self) -> type[Embeddings]:
        return E5Embeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"model_name": self._path, "precision": "fp32"}


class TestE5EmbeddingsIntegration(EmbeddingsIntegrationTests):
    @pytest.fixture(autouse=True)
    def _model_path(self, tiny_path: str) -> None:
        self._path = tiny_path

    @property
    def embeddings_class(self) -> type[Embeddings]:
        return E5Embeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"model_name": self._path, "precision": "fp32"}


def test_query_and_passage_prefixes_are_applied(tiny_embeddings: E5Embeddings) -> None:
    model = tiny_embeddings.client
    expected_query = model.encode(QUERY_PREFIX + "WordPress Kurs", normalize_embeddings=True)
    expected_passage = model.encode(PASSAGE_PREFIX + "WordPress", normalize_embeddings=True)

    query = tiny_embeddings.embed_query("WordPress Kurs")
    passage = tiny_embeddings.embed_documents(["WordPress"])[0]

    np.testing.assert_allclose(query, expected_query, atol=1e-6)
    np.testing.assert_allclose(passage, expected_passage, atol=1e-6)
    assert not np.allclose(
        tiny_embeddings.embed_query("WordPress"), tiny_embeddings.embed_documents(["WordPress"])[0]
    )


@pytest.mark.parametrize("precision", ["fp32", "bf16", "auto"])
def test_vectors_are_unit_length_in_every_precision(tiny_bi_encoder: Path, precision: str) -> None:
    embeddings = E5Embeddings(model_name=str(tiny_bi_encoder), precision=precision)

    vectors = np.array(embeddings.embed_documents(["WordPress", "Projektmanagement"]))

    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("bad", ["", "   ", None, 3])
def test_bad_query_is_rejected_with_a_clear_error(
    tiny_embeddings: E5Embeddings, bad: object
) -> None:
    with pytest.raises(ValueError, match="query"):
        tiny_embeddings.embed_query(bad)  # type: ignore[arg-type]


def test_bad_document_is_named_by_its_position(tiny_embeddings: E5Embeddings) -> None:
    with pytest.raises(ValueError, match=r"texts\[1\]"):
        tiny_embeddings.embed_documents(["WordPress", ""])


def test_a_string_instead_of_a_list_is_rejected(tiny_embeddings: E5Embeddings) -> None:
    with pytest.raises(ValueError, match="list of strings"):
        tiny_embeddings.embed_documents("WordPress")  # type: ignore[arg-type]


def test_empty_document_list_gives_no_vectors(tiny_embeddings: E5Embeddings) -> None:
    assert tiny_embeddings.embed_documents([]) == []


def test_model_that_cannot_be_loaded_offline_says_how_to_use_a_local_path() -> None:
    with pytest.raises(ModelLoadError, match="local folder"):
        E5Embeddings(model_name="isy-thl/no-such-model-offline")


def test_a_cross_encoder_folder_is_refused_as_embedding_model(tiny_cross_encoder: Path) -> None:
    with pytest.raises(ModelLoadError, match="is a cross-encoder .* use it as the reranker"):
        E5Embeddings(model_name=str(tiny_cross_encoder), precision="fp32")


def test_unknown_option_is_an_error(tiny_bi_encoder: Path) -> None:
    with pytest.raises(ValueError, match="batchsize"):
        E5Embeddings(model_name=str(tiny_bi_encoder), batchsize=8)  # type: ignore[call-arg]


def test_count_tokens_includes_the_prefix(tiny_embeddings: E5Embeddings) -> None:
    assert tiny_embeddings.count_tokens("WordPress") > tiny_embeddings.count_tokens("")
    assert tiny_embeddings.max_tokens == 512


def test_batch_size_defaults_to_32_on_a_cpu_and_keeps_an_explicit_value(
    tiny_bi_encoder: Path,
) -> None:
    default = E5Embeddings(model_name=tiny_bi_encoder, device="cpu")
    explicit = E5Embeddings(model_name=tiny_bi_encoder, device="cpu", batch_size=7)

    assert default.batch_size is None and default._batch_size == 32
    assert explicit._batch_size == 7
    assert default.embed_documents(["a"] * 9) == explicit.embed_documents(["a"] * 9)


def test_token_batches_fill_a_budget_of_padded_tokens_shortest_first() -> None:
    from langchain_course_skills._batching import token_batches

    assert token_batches([3, 10, 2, 4], budget=8) == [[2, 0], [3], [1]]
    assert token_batches([1] * 5, budget=100, max_count=2) == [[0, 1], [2, 3], [4]]
    assert token_batches([600], budget=512) == [[0]]  # longer than the budget: alone
    assert token_batches([], budget=512) == []


def test_token_budget_batches_give_each_text_its_own_vector_in_order(
    tiny_bi_encoder: Path,
) -> None:
    texts = ["Excel", "taste wines and describe them " * 8, "Java", "bake bread " * 20, "SQL"]
    batched = E5Embeddings(model_name=tiny_bi_encoder, device="cpu", token_budget=64)
    alone = [batched.embed_documents([text])[0] for text in texts]

    assert len(batched._batches([PASSAGE_PREFIX + t for t in texts])) > 1
    np.testing.assert_allclose(batched.embed_documents(texts), alone, atol=1e-5)
    assert E5Embeddings(model_name=tiny_bi_encoder, device="cpu")._token_budget == 512
