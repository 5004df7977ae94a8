"""The public choices of how a model runs: its backend (runtime) and its number format."""

from __future__ import annotations

from typing import Literal

__all__ = [
    "BACKENDS",
    "DEFAULT_ONNX_OPTIMIZATION",
    "ONNX_OPTIMIZATIONS",
    "PRECISIONS",
    "Backend",
    "ModelKind",
    "OnnxOptimization",
    "Precision",
]

Backend = Literal["torch", "onednn", "onnx", "openvino", "auto"]
"""What computes the transformer; "auto" picks the fastest quality-neutral one installed.

"onednn" is torch with its linear layers on oneDNN's fp32 kernels instead of its default BLAS
(MKL, which runs AVX2 code on AMD CPUs); no extra is needed.
"""
BACKENDS = ("torch", "onednn", "onnx", "openvino", "auto")

Precision = Literal["fp32", "bf16", "fp16", "auto"]
"""The number format; "auto" keeps fp32 where a lower one would change the rankings."""
PRECISIONS = ("fp32", "bf16", "fp16", "auto")

OnnxOptimization = Literal["O1", "O2", "O3"]
# O1: ONNX Runtime's own graph optimizations only; O2: plus the transformer fusions of
# onnxruntime.transformers (attention, layer norm, GELU), the same numbers; O3: plus the GELU
# approximation, which changes scores slightly. As optimum names its levels.
ONNX_OPTIMIZATIONS = ("O1", "O2", "O3")
DEFAULT_ONNX_OPTIMIZATION: OnnxOptimization = "O2"

ModelKind = Literal["embedding", "cross-encoder"]
