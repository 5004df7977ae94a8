"""The machine's ceiling (best matrix-product throughput torch reaches) and a forward pass's FLOPs.

FLOPs of one encoder forward pass over a sequence of n tokens, for a BERT/XLM-RoBERTa encoder
with L layers, hidden size d and feed-forward size f (a multiply-add counts as 2 FLOPs):

    per layer:  2 * n * (4 * d^2 + 2 * d * f)   the linear layers: Q, K, V, output (4 d^2
                                                 weights), feed-forward in and out (2 d f)
              + 4 * n^2 * d                      attention: Q K^T (2 n^2 d) and weights x V
    total:      L * per layer                    (embeddings are lookups; layer norms,
                                                 softmax, pooling and the 1-logit head are
                                                 under 1% and left out)

Only real tokens count (no padding): the fraction of the ceiling then says how much of the
machine the whole path uses, padding, tokenization and the store included.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from langchain_course_skills.models.backends import use_onednn

# Square sizes and the shapes an e5-base forward pass multiplies: (batch x tokens) x d by
# d x d (attention projections) and d x f (feed-forward), for a batch of 32 x 64 tokens.
SQUARE = (512, 1024, 2048)
MODEL_SHAPED = ((2048, 768, 768), (2048, 768, 3072), (2048, 3072, 768))
QUICK_SQUARE = (256, 512)
QUICK_MODEL_SHAPED = ((512, 768, 768),)
REPEATS = 5  # best of this many timed products per size
MIN_SECONDS = 0.05  # each timed product repeats until it takes at least this long
FRACTION_TARGET = 0.5  # the issue: at least half of the measured ceiling
# Targets against the recipe per CPU class (the issue): (index build, reranked query).
CLASS_TARGETS = {"amx": (4.0, 5.0), "avx512_bf16": (1.8, 1.8)}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def forward_flops(layers: int, hidden: int, ffn: int, tokens: Iterable[int]) -> float:
    """FLOPs of one forward pass over sequences of the given token counts (formula above)."""
    total = 0.0
    for n in tokens:
        total += layers * (2 * n * (4 * hidden**2 + 2 * hidden * ffn) + 4 * n**2 * hidden)
    return total


def model_flops(config: Any, tokens: Iterable[int]) -> float:
    """`forward_flops` with the sizes from a transformers config."""
    return forward_flops(
        int(config.num_hidden_layers),
        int(config.hidden_size),
        int(config.intermediate_size),
        tokens,
    )


def counted_flops(models: Sequence[Any], call: Callable[[], object]) -> float:
    """Run `call` once; return the `model_flops` of every sequence the transformers saw.

    Each transformers model's `forward` is wrapped for the call (sentence-transformers calls
    the method directly, past any module hook) to read the attention mask of every batch, so
    what is counted is what ran: the passages of a long course text, the windows of an
    over-long pair, real tokens only (padding left out).
    """
    total = 0.0

    def counting(model: Any) -> Callable[..., Any]:
        forward = model.forward

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            nonlocal total
            mask = kwargs.get("attention_mask")
            ids = kwargs.get("input_ids", args[0] if args else None)
            lengths = mask.sum(dim=1).tolist() if mask is not None else [ids.shape[1]] * len(ids)
            total += model_flops(model.config, lengths)
            return forward(*args, **kwargs)

        return wrapped

    for model in models:
        model.forward = counting(model)
    try:
        call()
    finally:
        for model in models:
            del model.forward  # the class's own method again
    return total


def _gflops(m: int, k: int, n: int, dtype: torch.dtype, onednn: bool = False) -> float:
    """GFLOP/s of an (m x k) by (k x n) product: torch.matmul, or oneDNN's linear layer."""
    a = torch.randn(m, k).to(dtype)
    if onednn:  # the kernels backend "onednn" runs (torch's BLAS is MKL; on AMD its AVX2 code)
        layer = torch.nn.Sequential(torch.nn.Linear(k, n))
        use_onednn(layer)

        def product() -> object:
            return layer(a)
    else:
        b = torch.randn(k, n).to(dtype)

        def product() -> object:
            return torch.matmul(a, b)

    with torch.inference_mode():
        product()  # warm: allocations, oneDNN kernel selection
        best = float("inf")
        for _ in range(REPEATS):
            calls, started = 0, time.perf_counter()
            while True:
                product()
                calls += 1
                seconds = time.perf_counter() - started
                if seconds >= MIN_SECONDS:
                    break
            best = min(best, seconds / calls)
    return 2 * m * k * n / best / 1e9


def measure(quick: bool = False) -> dict[str, Any]:
    """Best GFLOP/s per number format at torch's current thread count.

    fp32 takes the better of torch.matmul (its BLAS) and oneDNN's linear layer (sizes marked
    "onednn"); bf16 products run on oneDNN either way.
    """
    square = QUICK_SQUARE if quick else SQUARE
    shaped = QUICK_MODEL_SHAPED if quick else MODEL_SHAPED
    shapes = [(s, s, s) for s in square] + list(shaped)
    kernels = [False, True] if torch.backends.mkldnn.is_available() else [False]
    result: dict[str, Any] = {"threads": torch.get_num_threads()}
    for name, dtype in DTYPES.items():
        sizes = {
            f"{m}x{k}x{n}" + (" onednn" if onednn else ""): _gflops(m, k, n, dtype, onednn)
            for onednn in (kernels if name == "fp32" else [False])
            for m, k, n in shapes
        }
        result[name] = {"gflops": max(sizes.values()), "sizes": sizes}
    return result


def cpu_class(machine: dict[str, Any]) -> str:
    """ "amx", "avx512_bf16" or "other": which of the issue's targets apply."""
    if machine.get("amx_bf16"):
        return "amx"
    if machine.get("avx512_bf16"):
        return "avx512_bf16"
    return "other"


def fraction(flops: float, seconds: float, ceiling: dict[str, Any], fmt: str) -> float | None:
    """Achieved GFLOP/s over the ceiling of `fmt` (None where no ceiling was measured)."""
    if fmt not in ceiling or seconds <= 0:
        return None
    return flops / seconds / 1e9 / float(ceiling[fmt]["gflops"])
