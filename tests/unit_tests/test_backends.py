"""The oneDNN, ONNX Runtime and OpenVINO backends give torch's vectors and scores."""

import contextlib
import importlib.util
import io
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from langchain_course_skills import E5Embeddings
from langchain_course_skills.cli import main
from langchain_course_skills.cross_encoders import SkillCrossEncoder
from langchain_course_skills.embeddings import QUERY_PREFIX
from langchain_course_skills.models import backends as _backends
from langchain_course_skills.models.backends import EXPORTS_FOLDER, Runtime, resolve_runtime
from langchain_course_skills.store import embeddings_fingerprint
from tests.support.backends import TEXTS, _linked_copy

HAS_OPENVINO = importlib.util.find_spec("openvino") is not None
OPENVINO = pytest.param(
    "openvino",
    marks=pytest.mark.skipif(
        not HAS_OPENVINO,
        reason='openvino is not installed (pip install "langchain-course-skills[openvino]")',
    ),
)
BACKENDS = ["onednn", "onnx", OPENVINO]


@pytest.fixture(scope="module")
def bi_encoder(tiny_bi_encoder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _linked_copy(tiny_bi_encoder, tmp_path_factory.mktemp("backends") / "bi")


@pytest.fixture(scope="module")
def cross_encoder(tiny_cross_encoder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _linked_copy(tiny_cross_encoder, tmp_path_factory.mktemp("backends") / "cross")


@pytest.fixture(scope="module")
def torch_embeddings(bi_encoder: Path) -> E5Embeddings:
    return E5Embeddings(model_name=str(bi_encoder), device="cpu", precision="fp32", backend="torch")


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_vectors_equal_torch_fp32(
    backend: str, bi_encoder: Path, torch_embeddings: E5Embeddings
) -> None:
    embeddings = E5Embeddings(
        model_name=str(bi_encoder), device="cpu", precision="fp32", backend=backend
    )

    documents = np.array(embeddings.embed_documents(TEXTS))
    queries = np.array(embeddings.embed_queries(TEXTS))

    assert (documents * np.array(torch_embeddings.embed_documents(TEXTS))).sum(1).min() >= 0.9999
    assert (queries * np.array(torch_embeddings.embed_queries(TEXTS))).sum(1).min() >= 0.9999


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_applies_the_query_prefix(backend: str, bi_encoder: Path) -> None:
    embeddings = E5Embeddings(
        model_name=str(bi_encoder), device="cpu", precision="fp32", backend=backend
    )
    expected = embeddings.client.encode(QUERY_PREFIX + "WordPress", normalize_embeddings=True)

    query = embeddings.embed_query("WordPress")

    np.testing.assert_allclose(query, expected, atol=1e-5)
    assert not np.allclose(query, embeddings.embed_documents(["WordPress"])[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_scores_equal_torch_fp32(backend: str, cross_encoder: Path) -> None:
    pairs = [(text, skill) for text in TEXTS for skill in ("WordPress", "Scrum")]
    pairs.append(("Kurs " * 600, "WordPress"))  # over 512 tokens: scored window by window
    expected = SkillCrossEncoder(
        model_name=str(cross_encoder), device="cpu", precision="fp32", backend="torch"
    ).score(pairs)

    scores = SkillCrossEncoder(
        model_name=str(cross_encoder), device="cpu", precision="fp32", backend=backend
    ).score(pairs)

    assert np.abs(np.array(scores) - np.array(expected)).max() < 1e-3


def test_second_load_reuses_the_export(bi_encoder: Path, caplog: pytest.LogCaptureFixture) -> None:
    E5Embeddings(
        model_name=str(bi_encoder), device="cpu", precision="fp32", backend="onnx"
    )  # exports if needed
    exported = sorted((bi_encoder / EXPORTS_FOLDER).rglob("*.onnx"))

    with caplog.at_level(logging.INFO, logger="langchain_course_skills.models.backends"):
        E5Embeddings(model_name=str(bi_encoder), device="cpu", precision="fp32", backend="onnx")

    assert exported  # beside the model
    assert not [r for r in caplog.records if "exporting" in r.getMessage()]
    assert sorted((bi_encoder / EXPORTS_FOLDER).rglob("*.onnx")) == exported


def test_hub_cache_snapshot_exports_to_the_user_cache(
    tiny_bi_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    snapshot = _linked_copy(tiny_bi_encoder, tmp_path / "models--org--tiny" / "snapshots" / "abc")

    E5Embeddings(model_name=str(snapshot), device="cpu", precision="fp32", backend="onnx")

    assert not (snapshot / EXPORTS_FOLDER).exists()
    assert list((tmp_path / "cache" / "course-skills" / "exports").rglob("model.onnx"))


def test_store_fingerprint_does_not_name_the_backend(
    bi_encoder: Path, torch_embeddings: E5Embeddings
) -> None:
    onnx = E5Embeddings(model_name=str(bi_encoder), device="cpu", precision="fp32", backend="onnx")

    assert embeddings_fingerprint(onnx) == embeddings_fingerprint(torch_embeddings)


@pytest.mark.parametrize(
    ("backend", "module", "extra"),
    [("onnx", "onnxruntime", "onnx"), ("openvino", "openvino", "openvino")],
)
def test_missing_runtime_names_the_extra_to_install(
    backend: str, module: str, extra: str, bi_encoder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed

    with pytest.raises(ImportError, match=rf'pip install "langchain-course-skills\[{extra}\]"'):
        E5Embeddings(model_name=str(bi_encoder), device="cpu", precision="fp32", backend=backend)


@pytest.mark.parametrize("backend", ["onnx", "onednn"])
def test_fp32_backend_with_bf16_is_refused_with_the_alternatives(
    backend: str, bi_encoder: Path
) -> None:
    with pytest.raises(ValueError, match="computes in fp32.*precision='fp32'"):
        E5Embeddings(model_name=str(bi_encoder), device="cpu", backend=backend, precision="bf16")


def test_onednn_runs_every_linear_layer_on_onednn(cross_encoder: Path) -> None:
    import torch

    encoder = SkillCrossEncoder(
        model_name=str(cross_encoder), device="cpu", precision="fp32", backend="onednn"
    )

    modules = list(encoder.client.model.modules())
    assert not [m for m in modules if type(m) is torch.nn.Linear]
    assert [m for m in modules if type(m).__name__ == "OneDnnLinear"]
    assert str(encoder.runtime) == "onednn fp32"


@pytest.mark.parametrize(
    ("cpuinfo", "expected"),
    [
        ("vendor_id\t: AuthenticAMD\nflags\t\t: fpu avx2 avx512f avx512_bf16\n", True),
        ("vendor_id\t: AuthenticAMD\nflags\t\t: fpu avx2\n", False),  # no AVX-512
        ("vendor_id\t: GenuineIntel\nflags\t\t: fpu avx2 avx512f amx_bf16\n", False),
    ],
)
def test_auto_takes_onednn_only_where_it_was_measured_faster(
    cpuinfo: str, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_backends, "cpu_info", lambda: cpuinfo)

    assert _backends.onednn_is_faster() is expected
    assert _backends._usable("onednn") is expected


def test_auto_precision_with_onnx_is_fp32(bi_encoder: Path) -> None:
    embeddings = E5Embeddings(
        model_name=str(bi_encoder), device="cpu", backend="onnx", precision="auto"
    )

    assert len(embeddings.embed_query("WordPress")) == embeddings.dimension


def test_runtime_backend_on_a_gpu_device_is_refused() -> None:
    with pytest.raises(ValueError, match="device='cpu'"):
        resolve_runtime("onnx", "auto", "cuda")


def _machine(monkeypatch: pytest.MonkeyPatch, installed: set[str]) -> None:
    """Make resolve_runtime see a machine with these runtimes installed."""
    monkeypatch.setattr(_backends, "_usable", lambda backend: backend in installed)


@pytest.mark.parametrize(
    ("installed", "expected"),
    [
        ({"torch"}, Runtime("torch", "fp32")),  # bf16 is not quality-neutral by the rule
        ({"torch", "onednn"}, Runtime("onednn", "fp32")),  # an AMD CPU with AVX-512
        ({"torch", "onednn", "onnx"}, Runtime("onnx", "fp32")),
        ({"torch", "onnx"}, Runtime("onnx", "fp32")),
        ({"torch", "onnx", "openvino"}, Runtime("openvino", "fp32")),
    ],
)
def test_auto_picks_the_fastest_quality_neutral_variant_this_machine_runs(
    installed: set[str], expected: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    _machine(monkeypatch, installed)

    assert resolve_runtime("auto", "auto", "cpu") == expected


def test_auto_fills_in_what_the_user_left_open(monkeypatch: pytest.MonkeyPatch) -> None:
    _machine(monkeypatch, {"torch", "onnx", "openvino"})

    assert resolve_runtime("torch", "auto", "cpu") == Runtime("torch", "fp32")
    assert resolve_runtime("auto", "fp32", "cpu") == Runtime("openvino", "fp32")
    assert resolve_runtime("onnx", "auto", "cpu") == Runtime("onnx", "fp32")
    assert resolve_runtime("auto", "bf16", "cpu") == Runtime("torch", "bf16")  # asked for
    assert resolve_runtime("openvino", "bf16", "cpu") == Runtime("openvino", "bf16")
    assert resolve_runtime("auto", "auto", "cuda") == Runtime("torch", "fp32")
    with pytest.raises(ValueError, match="device='cpu'"):
        resolve_runtime("onednn", "auto", "cuda")


def test_default_models_say_what_auto_chose(bi_encoder: Path, cross_encoder: Path) -> None:
    expected = resolve_runtime("auto", "auto", "cpu")

    embeddings = E5Embeddings(model_name=str(bi_encoder), device="cpu")
    encoder = SkillCrossEncoder(model_name=str(cross_encoder), device="cpu")

    assert embeddings.runtime == encoder.runtime == expected
    assert len(embeddings.embed_query("WordPress")) == embeddings.dimension
    assert len(encoder.score([("WordPress Kurs", "WordPress")])) == 1


def _cli(*argv: object) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([str(arg) for arg in argv]) == 0
    return out.getvalue()


def test_cli_search_with_onnx_ranks_as_torch_on_a_torch_built_store(
    bi_encoder: Path, cross_encoder: Path, esco_slice: Path, tmp_path: Path
) -> None:
    db = tmp_path / "skills-db"
    _cli("index", esco_slice, "--db", db, "--model", bi_encoder, "--backend", "torch")
    search = ["search", "manage musical staff", "--db", db, "-k", 10, "--json", "--rerank"]
    search += ["--reranker", cross_encoder, "--top-n", 5, "--precision", "fp32"]

    by_torch = json.loads(_cli(*search, "--backend", "torch"))
    by_onnx = json.loads(_cli(*search, "--backend", "onnx"))

    assert [r["label"] for r in by_onnx] == [r["label"] for r in by_torch]
    scores = [(r["relevance_score"], t["relevance_score"]) for r, t in zip(by_onnx, by_torch)]
    assert max(abs(a - b) for a, b in scores) < 1e-3
