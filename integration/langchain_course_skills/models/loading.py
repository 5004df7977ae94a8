"""Shared model plumbing: device and precision choice, finding a model, loading it.

Before anything is downloaded, `locate_model` decides in at most a few seconds where a model
comes from: a local folder, the Hugging Face cache, or the Hub. An unreachable Hub is found
once, by one short request, instead of by the Hub client's retries (over a minute of
"Retrying in 8s" warnings), and a model that cannot be had is a `ModelLoadError` at once.
"""

from __future__ import annotations

import functools
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_course_skills.errors import ModelLoadError
from langchain_course_skills.models.options import PRECISIONS, ModelKind, Precision

if TYPE_CHECKING:
    import torch
    from sentence_transformers import CrossEncoder, SentenceTransformer

logger = logging.getLogger(__name__)

HUB_TIMEOUT_S = 3.0  # one request to the Hub; a reachable Hub answers in well under a second
_HUB_CONFIG_FILE = "config.json"  # every transformers model has one; its presence = cached


def resolve_device(device: str) -> str:
    """Return the torch device to use; "auto" means cuda, then mps, then cpu."""
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def cpu_info() -> str:
    """This machine's /proc/cpuinfo: vendor, model and flags ("" where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            return cpuinfo.read()
    except OSError:
        return ""


@functools.cache  # read /proc/cpuinfo once, not at every model load
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 matrix products natively (AVX512-BF16 or AMX)."""
    flags = cpu_info()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def check_precision(precision: str) -> None:
    """Raise a `ValueError` naming the choices unless `precision` is one of them."""
    if precision not in PRECISIONS:
        msg = f"precision must be one of 'fp32', 'bf16', 'fp16' or 'auto', not {precision!r}"
        raise ValueError(msg)


def torch_dtype(precision: str) -> torch.dtype:
    """The torch dtype of a number format ("fp32", "bf16" or "fp16")."""
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def resolve_precision(precision: Precision, device: str) -> torch.dtype:
    """Return the dtype that training computes in (autocast) for `precision` on `device`.

    For training, "auto" picks what the hardware does well: fp16 on CUDA, bf16 on CPUs with
    native bf16, else fp32. (For inference, "auto" means the fastest variant measured
    quality-neutral: `backends.resolve_runtime`.)
    """
    check_precision(precision)
    if precision != "auto":
        return torch_dtype(precision)
    if device.startswith("cuda"):
        return torch_dtype("fp16")
    if device == "cpu" and cpu_has_native_bf16():
        return torch_dtype("bf16")
    return torch_dtype("fp32")


def model_identity(model_name: str) -> str:
    """Return how a model is recorded in a store's fingerprint: a Hub id, or an absolute path."""
    path = Path(model_name).expanduser()
    if path.exists():
        return str(path.resolve())
    return model_name


def hub_offline() -> bool:
    """Whether the user switched the Hugging Face Hub off (`HF_HUB_OFFLINE=1`)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


@functools.cache  # one probe per process, whatever the number of models
def hub_unreachable_reason() -> str | None:
    """Return why the Hugging Face Hub cannot be reached, or None if it answers.

    One request with a short timeout and no retries; any HTTP answer counts as reachable.
    """
    endpoint = _hub_endpoint()
    try:
        urllib.request.urlopen(f"{endpoint}/api/models?limit=1", timeout=HUB_TIMEOUT_S).close()
    except urllib.error.HTTPError:
        return None  # it answered, if only with an error status
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return f"{endpoint} cannot be reached: {reason}"
    return None


def cached_config(model_name: str, hub_options: Mapping[str, Any]) -> Path | None:
    """The cached config.json of Hub id `model_name` (`revision`, `cache_folder`), or None."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(
            model_name,
            _HUB_CONFIG_FILE,
            cache_dir=hub_options.get("cache_folder"),
            revision=hub_options.get("revision"),
        )
    except ValueError:  # not a valid Hub id
        return None
    return Path(found) if isinstance(found, str) else None


def _looks_like_path(model_name: str) -> bool:
    # A Hub id is "name" or "owner/name"; anything else is meant as a folder.
    return (
        model_name.startswith((".", "/", "~", "\\"))
        or model_name.count("/") > 1
        or os.sep in model_name.replace("/", "")
    )


@dataclass(frozen=True)
class ModelSource:
    """Where a model will be loaded from."""

    name: str
    """The model id or folder, as given."""
    local_files_only: bool
    """Load without asking the Hub (a folder, or a cached copy while the Hub is unreachable)."""


def locate_model(
    model_name: str, kind: ModelKind, hub_options: dict[str, Any] | None = None
) -> ModelSource:
    """Find where `model_name` can be loaded from, in a few seconds at most, or raise.

    Args:
        model_name: A local folder or a Hugging Face Hub id.
        kind: What the model is for, for the message.
        hub_options: `cache_folder` and `revision` as the model will be loaded with.

    Raises:
        ModelLoadError: The name is empty, the folder does not exist, or the model is
            neither cached nor reachable on the Hub.
    """
    hub_options = hub_options or {}
    if not isinstance(model_name, str) or not model_name.strip():
        raise ModelLoadError.empty_name(kind)
    if Path(model_name).expanduser().is_dir():
        return ModelSource(model_name, local_files_only=True)
    if _looks_like_path(model_name):
        problem = f"no {kind} model folder at {model_name!r}"
        raise ModelLoadError(problem, model_name=model_name, kind=kind)
    cached = cached_config(model_name, hub_options) is not None
    if hub_offline():
        if cached:
            return ModelSource(model_name, local_files_only=True)
        problem = (
            f"the {kind} model {model_name!r} is not in the Hugging Face cache and "
            "HF_HUB_OFFLINE is set"
        )
        raise ModelLoadError(problem, model_name=model_name, kind=kind, offline=True)
    unreachable = hub_unreachable_reason()
    if unreachable is None:
        return ModelSource(model_name, local_files_only=False)
    if cached:
        logger.info("%s; loading %s from the Hugging Face cache", unreachable, model_name)
        return ModelSource(model_name, local_files_only=True)
    problem = (
        f"cannot download the {kind} model {model_name!r}: the Hugging Face Hub at {unreachable}"
    )
    raise ModelLoadError(problem, model_name=model_name, kind=kind)


def _loading_failed(source: ModelSource, kind: ModelKind, exc: Exception) -> ModelLoadError:
    reason = " ".join(f"{exc.__class__.__name__}: {exc}".split()).rstrip(".")
    problem = f"could not load the {kind} model {source.name!r} ({reason})"
    return ModelLoadError(problem, model_name=source.name, kind=kind)


def _torch_dtype(dtype: torch.dtype, backend: str) -> torch.dtype:
    """The dtype to load the torch model in: fp32 when another backend computes (it exports)."""
    import torch

    return dtype if backend == "torch" else torch.float32


def load_sentence_transformer(
    model_name: str,
    device: str,
    dtype: torch.dtype,
    max_seq_length: int | None,
    model_kwargs: dict[str, Any] | None = None,
    *,
    backend: str = "torch",
) -> SentenceTransformer:
    """Load a bi-encoder on `device` in `dtype`, turning any failure into a `ModelLoadError`.

    `max_seq_length` caps the input length; a model whose own limit is lower keeps its own.
    With `backend` "onnx" or "openvino" the model loads in fp32, ready for `backends.use_backend`.
    """
    options = dict(model_kwargs or {})
    source = locate_model(model_name, "embedding", options)
    from sentence_transformers import SentenceTransformer

    options.setdefault("local_files_only", source.local_files_only)
    try:
        model = SentenceTransformer(
            model_name,
            device=device,
            model_kwargs={"dtype": _torch_dtype(dtype, backend)},
            **options,
        )
    except Exception as exc:  # many kinds: OSError, HFValidationError, ValueError, ...
        raise _loading_failed(source, "embedding", exc) from exc
    _check_no_relevance_head(model, model_name)
    own_limit = model.max_seq_length
    if max_seq_length is not None and (own_limit is None or max_seq_length < own_limit):
        model.max_seq_length = max_seq_length
    logger.info(
        "loaded embedding model %s on %s in %s (reads %s tokens)",
        model_name,
        device,
        dtype,
        model.max_seq_length,
    )
    return model


def _check_no_relevance_head(model: SentenceTransformer, model_name: str) -> None:
    """Refuse a cross-encoder loaded as an embedding model: its vectors would mean nothing."""
    transformer = model[0] if len(model) else None
    config = getattr(getattr(transformer, "auto_model", None), "config", None)
    architectures = getattr(config, "architectures", None) or []
    if any(name.endswith("ForSequenceClassification") for name in architectures):
        problem = (
            f"{model_name!r} is a cross-encoder (architecture {', '.join(architectures)}), not "
            "an embedding model: it scores (course, skill) pairs and gives no meaningful "
            "embeddings; use it as the reranker (SkillCrossEncoder)"
        )
        raise ModelLoadError(problem, model_name=model_name, kind="embedding", downloadable=False)


def _check_relevance_head(model: CrossEncoder, model_name: str) -> None:
    """Refuse a model that has no trained classification head, or more than two labels."""
    config = getattr(model.model, "config", None)
    architectures = getattr(config, "architectures", None) or []
    if not any(name.endswith("ForSequenceClassification") for name in architectures):
        problem = (
            f"{model_name!r} is not a cross-encoder: it has no trained classification head "
            f"(its architecture is {', '.join(architectures) or 'unknown'}), so its scores would "
            "be random; it looks like a bi-encoder (embedding model)"
        )
        raise ModelLoadError(
            problem, model_name=model_name, kind="cross-encoder", downloadable=False
        )
    if model.num_labels > 2:
        problem = (
            f"{model_name!r} has {model.num_labels} output labels; a reranker gives one "
            "relevance logit (or two labels: not relevant, relevant)"
        )
        raise ModelLoadError(
            problem, model_name=model_name, kind="cross-encoder", downloadable=False
        )


def load_cross_encoder(
    model_name: str,
    device: str,
    dtype: torch.dtype,
    max_length: int | None,
    model_kwargs: dict[str, Any] | None = None,
    *,
    require_head: bool = True,
    backend: str = "torch",
) -> CrossEncoder:
    """Load a cross-encoder on `device` in `dtype`, turning any failure into a `ModelLoadError`.

    With `require_head` (for scoring), a model without a trained classification head is
    refused; fine-tuning passes False to start a head from a bi-encoder's weights.
    """
    options = dict(model_kwargs or {})
    source = locate_model(model_name, "cross-encoder", options)
    from sentence_transformers import CrossEncoder
    from transformers.utils import logging as transformers_logging

    options.setdefault("local_files_only", source.local_files_only)
    # A bi-encoder folder loads with a fresh random head and transformers' "MISSING" report;
    # _check_relevance_head refuses it with a message of its own.
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        model = CrossEncoder(
            model_name,
            device=device,
            max_length=max_length,
            model_kwargs={"dtype": _torch_dtype(dtype, backend)},
            **options,
        )
    except Exception as exc:
        raise _loading_failed(source, "cross-encoder", exc) from exc
    finally:
        transformers_logging.set_verbosity(verbosity)
    if require_head:
        _check_relevance_head(model, model_name)
    logger.info("loaded cross-encoder %s on %s in %s", model_name, device, dtype)
    return model
