"""Run a loaded model's transformer through oneDNN, ONNX Runtime or OpenVINO instead of torch.

"onednn" keeps the model in torch and only moves its linear layers from torch's BLAS (MKL) to
oneDNN's fp32 kernels (those `torch.utils.mkldnn` uses): on AMD CPUs MKL runs its AVX2 code,
oneDNN its AVX-512 code, and the linear layers are nearly all of a transformer's work. The
numbers are fp32 either way; only the order of the sums differs.

sentence-transformers has a `backend=` option of its own, but it loads through optimum-onnx
and optimum-intel, whose releases pin transformers below 4.58 and 5.6 while this package runs
on transformers 5 and sentence-transformers 6 (pip cannot install both). So the transformer is
exported here, once per model, with `torch.onnx.export`, and the model's transformer module
calls an ONNX Runtime or OpenVINO session instead of torch. Tokenization, pooling and
normalization stay sentence-transformers' own, so prefixes, truncation and windowing are
unchanged, and so are the vectors (within float tolerance; the store's fingerprint does not
name the backend).

Exports are cached next to the model, in `<model>/course-skills-exports/<key>/`, or, where the
model folder is read-only or a Hugging Face cache snapshot, in the per-user cache folder
(`~/.cache/course-skills/exports/<key>/` on Linux). The key covers the model's identity, its
weight files (size and modification time), the export settings and the torch version; a
changed model is exported again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import threading
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from langchain_course_skills.models.loading import (
    check_precision,
    cpu_has_native_bf16,
    cpu_info,
    model_identity,
    torch_dtype,
)
from langchain_course_skills.models.options import (
    BACKENDS,
    DEFAULT_ONNX_OPTIMIZATION,
    ONNX_OPTIMIZATIONS,
    OnnxOptimization,
)

if TYPE_CHECKING:
    import torch
    from sentence_transformers import CrossEncoder, SentenceTransformer

logger = logging.getLogger(__name__)

ONNX_OPSET = 17  # supported by every onnxruntime and OpenVINO release we accept
EXPORT_VERSION = 1  # bump when the export itself changes, to re-export cached models
EXPORTS_FOLDER = "course-skills-exports"  # inside the model folder
APP_NAME = "course-skills"  # the per-user cache folder's name
_TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # in the model's order
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json")
_INSTALL = {
    "onnx": 'pip install "langchain-course-skills[onnx]"',
    "openvino": 'pip install "langchain-course-skills[openvino]"',
}


Variant = tuple[str, str]  # (backend, precision), e.g. ("openvino", "bf16")


class Runtime(NamedTuple):
    """What computes a model: a backend and a number format."""

    backend: str
    """torch, onnx or openvino."""
    precision: str
    """fp32, bf16 or fp16."""

    @property
    def dtype(self) -> torch.dtype:
        """The torch number format of `precision`."""
        return torch_dtype(self.precision)

    def __str__(self) -> str:
        return f"{self.backend} {self.precision}"


# What backend="auto" / precision="auto" may pick on a CPU: the variants that met the quality
# rule (paired bootstrap CI of rp@5 and mrr@10 against torch fp32 contains 0, mean loss under
# 0.3 points, on every query set, for MiniLM, a fine-tuned MiniLM and a trained reranker;
# benchmarks/precision_decision.py, docs/benchmarks.md), fastest first (benchmarks/backends.py).
# bf16 is not among them: torch bf16 lost 0.44 rp@5 (fine-tuned MiniLM) and 0.82 mrr@10
# (reranked) on TECH, OpenVINO bf16 0.55 rp@5 on HOUSE and 0.96 mrr@10 (reranked) on TECH.
AUTO_CPU_VARIANTS: tuple[Variant, ...] = (
    ("openvino", "fp32"),
    ("onnx", "fp32"),
    ("onednn", "fp32"),
    ("torch", "fp32"),
)
_RUNTIME_MODULES = {
    "torch": (),
    "onednn": (),
    "onnx": ("onnx", "onnxruntime"),
    "openvino": ("onnx", "openvino"),
}


def _usable(backend: str) -> bool:
    """Whether "auto" may pick `backend` here: installed, and for onednn measured faster."""
    if backend == "onednn" and not onednn_is_faster():
        return False  # auto keeps torch's own kernels where oneDNN was not measured faster
    return all(importlib.util.find_spec(module) for module in _RUNTIME_MODULES[backend])


def onednn_is_faster() -> bool:
    """Whether oneDNN's fp32 linear layers beat torch's default here: AMD x86 with AVX-512.

    There MKL runs its AVX2 code; oneDNN's AVX-512 code was 1.35x on a matrix product, 1.78x
    on the default store's build and 1.44-1.50x on reranking a catalogue (a 2-core Zen 5;
    benchmarks/default_store_build.py, benchmarks/catalogue_rerank.py). On Intel CPUs MKL runs
    AVX-512 itself, so "auto" keeps torch's kernels there.
    """
    import torch

    info = cpu_info()
    return torch.backends.mkldnn.is_available() and "AuthenticAMD" in info and " avx512f" in info


def resolve_runtime(backend: str, precision: str, device: str) -> Runtime:
    """Return the backend ("torch", "onednn", "onnx" or "openvino") and number format to use.

    On the CPU, "auto" (for either) picks the first of `AUTO_CPU_VARIANTS` that fits what was
    asked and is installed: OpenVINO fp32 where the `openvino` extra is installed, else ONNX
    Runtime fp32 where the `onnx` extra is, else oneDNN fp32 on CPUs where it is faster than
    torch's own kernels (`onednn_is_faster`), else torch fp32; bf16 only when asked for. On a GPU
    it is torch fp32: fp16 has not been measured against the quality rule (pass
    precision="fp16" to choose it).

    Raises:
        ValueError: An unknown backend or precision, or ONNX Runtime / OpenVINO on a device
            other than the CPU.
    """
    if backend not in BACKENDS:
        msg = f"backend must be one of {', '.join(map(repr, BACKENDS))}, not {backend!r}"
        raise ValueError(msg)
    check_precision(precision)
    if backend not in ("auto", "torch") and device != "cpu":
        msg = (
            f"backend {backend!r} runs on the CPU here, but the device is {device!r}; "
            "pass device='cpu' or backend='torch'"
        )
        raise ValueError(msg)
    fits = [
        (b, p)
        for b, p in AUTO_CPU_VARIANTS
        if device == "cpu" and backend in ("auto", b) and precision in ("auto", p)
    ]
    chosen = next((variant for variant in fits if _usable(variant[0])), None)
    if backend == "auto":
        backend = chosen[0] if chosen else "torch"
    if precision == "auto":
        precision = chosen[1] if chosen else "fp32"
    return Runtime(backend, precision)


def _require(backend: str) -> Any:
    """Import the runtime of `backend`, or raise an ImportError that names the extra."""
    try:
        if backend == "onnx":
            import onnx  # noqa: F401  (torch.onnx.export writes through it)
            import onnxruntime

            return onnxruntime
        import openvino

        return openvino
    except ImportError as exc:
        package = "onnx and onnxruntime" if backend == "onnx" else "openvino"
        msg = f"backend {backend!r} needs {package}; install it with `{_INSTALL[backend]}`"
        raise ImportError(msg) from exc


def _in_hub_cache(folder: Path) -> bool:
    return any(part.startswith("models--") for part in folder.parts) and (
        "snapshots" in folder.parts
    )


def _export_key(model_name: str, folder: Path | None, config: Any) -> str:
    import torch

    files: list[tuple[str, int, int]] = []
    if folder is not None:
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.suffix in _WEIGHT_SUFFIXES:
                stat = path.stat()
                files.append((path.name, stat.st_size, stat.st_mtime_ns))
    described = {
        "model": model_identity(model_name),
        "revision": getattr(config, "_commit_hash", None),
        "files": files,
        "opset": ONNX_OPSET,
        "export": EXPORT_VERSION,
        "torch": torch.__version__,
    }
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()[:16]


def export_folder(model_name: str, config: Any) -> Path:
    """Return the folder where the exports of `model_name` are cached (created if missing)."""
    local = Path(model_name).expanduser()
    folder = local.resolve() if local.is_dir() else None
    key = _export_key(model_name, folder, config)
    if folder is not None and os.access(folder, os.W_OK) and not _in_hub_cache(folder):
        target = folder / EXPORTS_FOLDER / key
    else:
        from platformdirs import user_cache_dir

        target = Path(user_cache_dir(APP_NAME)) / "exports" / key
    target.mkdir(parents=True, exist_ok=True)
    return target


class _Exportable:
    """The transformer's forward with token tensors in, one tensor out (what ONNX can trace)."""

    @staticmethod
    def wrap(model: torch.nn.Module, names: tuple[str, ...], output: str) -> torch.nn.Module:
        import torch

        class Exportable(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
                result = self.model(**dict(zip(names, tensors)), return_dict=True)
                return result[output]

        return Exportable().eval()


def _export_onnx(
    transformer: Any, tokenizer: Any, folder: Path, output: str, pair: bool
) -> tuple[Path, list[str]]:
    """Export the transformer to `folder/model.onnx` unless it is there; return it and inputs."""
    import torch
    from filelock import FileLock

    target = folder / "model.onnx"
    with FileLock(str(folder / ".export.lock")):
        if target.exists():
            return target, json.loads((folder / "inputs.json").read_text(encoding="utf-8"))
        # Two samples of different lengths, so that batch and sequence stay dynamic.
        if pair:
            sample = tokenizer(
                ["Kurs", "ein längerer Kurstext"], ["skill", "eine Fähigkeit"], padding=True
            )
        else:
            sample = tokenizer(["Kurs", "ein längerer Kurstext"], padding=True)
        names = tuple(name for name in _TOKEN_INPUTS if name in sample)
        tensors = tuple(torch.tensor(sample[name]) for name in names)
        axes = {name: {0: "batch", 1: "sequence"} for name in (*names, output)}
        started = time.perf_counter()
        logger.info("exporting %s to ONNX in %s (once)", type(transformer).__name__, folder)
        partial = folder / "model.onnx.partial"
        # The tracer warns about Python conditions in transformers' masking code; they hold
        # for every batch without a key-value cache, which is all this export serves.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Exportable.wrap(transformer, names, output),
                tensors,
                str(partial),
                input_names=list(names),
                output_names=[output],
                dynamic_axes=axes,
                opset_version=ONNX_OPSET,
                dynamo=False,  # the TorchScript exporter needs no onnxscript
            )
        (folder / "inputs.json").write_text(json.dumps(list(names)), encoding="utf-8")
        os.replace(partial, target)
        logger.info("exported in %.1f s", time.perf_counter() - started)
    return target, list(names)


def _optimized_onnx(source: Path, config: Any, level: OnnxOptimization) -> Path:
    """Return the ONNX file for `level` (O2/O3: fused with onnxruntime.transformers, cached)."""
    if level == "O1":
        return source
    from filelock import FileLock

    target = source.with_name(f"model_{level}.onnx")
    with FileLock(str(source.with_name(".export.lock"))):
        if target.exists():
            return target
        from onnxruntime.transformers.fusion_options import FusionOptions
        from onnxruntime.transformers.optimizer import optimize_model

        options = FusionOptions("bert")
        options.enable_gelu_approximation = level == "O3"
        optimized = optimize_model(
            str(source),
            model_type="bert",  # BERT and XLM-RoBERTa share the encoder layout
            num_heads=int(getattr(config, "num_attention_heads", 0)),
            hidden_size=int(getattr(config, "hidden_size", 0)),
            optimization_options=options,
            opt_level=0,  # fusions only; the session applies ONNX Runtime's graph levels
        )
        partial = target.with_suffix(".partial")
        optimized.save_model_to_file(str(partial))
        os.replace(partial, target)
    return target


def _openvino_ir(source: Path) -> Path:
    """Return the OpenVINO IR of the ONNX file (converted once, cached beside it)."""
    import openvino
    from filelock import FileLock

    target = source.with_name("openvino_model.xml")
    with FileLock(str(source.with_name(".export.lock"))):
        if not target.exists():
            logger.info("converting %s to OpenVINO IR (once)", source.name)
            partial = source.with_name("openvino_model.partial.xml")
            openvino.save_model(openvino.convert_model(str(source)), str(partial))
            os.replace(partial.with_suffix(".bin"), target.with_suffix(".bin"))
            os.replace(partial, target)
    return target


def _openvino_hint(dtype: torch.dtype) -> str:
    import torch

    if dtype == torch.bfloat16:
        return "bf16"
    if dtype == torch.float16:
        return "f16"
    return "f32"  # explicit: OpenVINO would pick bf16 by itself on CPUs that have it


def use_onednn(model: torch.nn.Module) -> None:
    """Replace every `torch.nn.Linear` of `model` by one on oneDNN, its weights reordered once."""
    import torch

    if not torch.backends.mkldnn.is_available():
        msg = "backend 'onednn' needs a torch build with oneDNN (MKL-DNN); pass backend='torch'"
        raise ValueError(msg)

    class OneDnnLinear(torch.nn.Module):
        """`torch.nn.Linear` for inference, on oneDNN's fp32 kernels (as torch.utils.mkldnn)."""

        weight: torch.Tensor
        bias: torch.Tensor

        def __init__(self, linear: torch.nn.Linear) -> None:
            super().__init__()
            bias = linear.bias if linear.bias is not None else torch.zeros(linear.out_features)
            self.register_buffer("weight", linear.weight.detach().float().to_mkldnn())
            self.register_buffer("bias", bias.detach().float().to_mkldnn())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            # The op torch.utils.mkldnn.MkldnnLinear calls, without its TorchScript wrapper
            # (torch.jit.script_method, which warns that it is deprecated).
            found = torch._C._nn.mkldnn_linear(x.contiguous().to_mkldnn(), self.weight, self.bias)
            return found.to_dense()

    linears = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if type(child) is torch.nn.Linear
    ]
    for parent, name, child in linears:
        setattr(parent, name, OneDnnLinear(child))
    logger.info("%d linear layers run on oneDNN", len(linears))


def _runtime_module(
    runner: Any, names: list[str], output: str, config: Any, label: str
) -> torch.nn.Module:
    import torch

    class RuntimeModel(torch.nn.Module):
        """Stands in for the transformers model: same inputs, `{output: tensor}` out."""

        def __init__(self) -> None:
            super().__init__()
            self.config = config
            # sentence-transformers reads the device and dtype from a module's tensors.
            self.register_buffer("_anchor", torch.zeros(0), persistent=False)

        def forward(self, **features: Any) -> dict[str, torch.Tensor]:
            feeds = {name: features[name].cpu().numpy() for name in names if name in features}
            return {output: torch.from_numpy(runner(feeds))}

        def extra_repr(self) -> str:
            return label

    return RuntimeModel()


def use_backend(
    model: SentenceTransformer | CrossEncoder,
    model_name: str,
    backend: str,
    dtype: torch.dtype,
    *,
    onnx_optimization: OnnxOptimization = DEFAULT_ONNX_OPTIMIZATION,
) -> None:
    """Make `model` compute its transformer with `backend` ("onednn", "onnx" or "openvino").

    The model must have been loaded in fp32 on the CPU. oneDNN and ONNX Runtime compute in
    fp32; OpenVINO in `dtype` (fp32, bf16 on CPUs that have it, or fp16). All use as many
    threads as torch does (`torch.set_num_threads`, the CLI's `--threads`). A model on oneDNN
    is for inference only: its linear layers have no gradients.

    Raises:
        ImportError: The backend's packages are not installed (names the extra to install).
        ValueError: oneDNN or ONNX Runtime with bf16 or fp16, or an unknown optimization level.
    """
    import torch

    if backend in ("onednn", "onnx") and dtype != torch.float32:
        msg = (
            f"backend {backend!r} computes in fp32 on the CPU, not "
            f"{str(dtype).removeprefix('torch.')}; pass precision='fp32' (or 'auto'), "
            "or backend='torch' or 'openvino' for bf16"
        )
        raise ValueError(msg)
    if backend == "onednn":
        use_onednn(model)
        return
    runtime = _require(backend)
    if onnx_optimization not in ONNX_OPTIMIZATIONS:
        msg = f"onnx_optimization must be one of {ONNX_OPTIMIZATIONS}, not {onnx_optimization!r}"
        raise ValueError(msg)
    module: Any = model[0]  # sentence-transformers' Transformer module
    transformer = module.model
    output = str(module.modality_config["text"]["method_output_name"])
    config = transformer.config
    folder = export_folder(model_name, config)
    pair = output == "logits"  # a cross-encoder reads (query, passage) pairs
    source, names = _export_onnx(transformer, model.tokenizer, folder, output, pair)
    if backend == "onnx":
        path = _optimized_onnx(source, config, onnx_optimization)
        options = runtime.SessionOptions()
        options.graph_optimization_level = runtime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = torch.get_num_threads()  # as torch would use
        session = runtime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        def run(feeds: dict[str, Any]) -> Any:
            return session.run(None, feeds)[0]

        label = f"onnxruntime {path.name}"
    else:
        hint = _openvino_hint(dtype)
        if hint == "bf16" and not cpu_has_native_bf16():
            logger.warning("this CPU has no native bf16; OpenVINO will emulate it slowly")
        compiled = runtime.Core().compile_model(
            str(_openvino_ir(source)),
            "CPU",
            {"INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": torch.get_num_threads()},
        )
        request = compiled.create_infer_request()
        lock = threading.Lock()  # one infer request runs one call at a time

        def run(feeds: dict[str, Any]) -> Any:
            with lock:
                return request.infer(feeds)[0].copy()

        label = f"openvino {hint}"
    module.model = _runtime_module(run, names, output, config, label)
    logger.info("the %s runs on %s", type(transformer).__name__, label)
