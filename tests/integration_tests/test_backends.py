"""The ONNX Runtime and OpenVINO backends give torch's vectors and scores, from a cached export."""

from pathlib import Path

import numpy as np

from langchain_course_skills import E5Embeddings
from tests.support.backends import TEXTS, _linked_copy


def test_minilm_vectors_through_onnx_equal_torch(minilm_path: Path, tmp_path: Path) -> None:
    model = _linked_copy(minilm_path, tmp_path / "minilm")
    expected = np.array(
        E5Embeddings(
            model_name=str(model), device="cpu", precision="fp32", backend="torch"
        ).embed_documents(TEXTS)
    )

    vectors = np.array(
        E5Embeddings(
            model_name=str(model), device="cpu", precision="fp32", backend="onnx"
        ).embed_documents(TEXTS)
    )

    assert (vectors * expected).sum(1).min() >= 0.9999
