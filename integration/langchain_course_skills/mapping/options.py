"""The public choices of a mapping run: its engine, its output format, and Ray's options."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Engine", "OutputFormat", "RayOptions"]

Engine = Literal["local", "ray"]
OutputFormat = Literal["jsonl", "csv"]


class RayOptions(BaseModel):
    """Where and how wide `map_courses(..., engine="ray")` runs."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = None
    """The cluster (e.g. "ray://head:10001" or "auto"); None starts or joins a local Ray."""
    actors: int | None = Field(default=None, gt=0)
    """Workers, each with its own models; None: one per GPU, else one per `num_cpus` CPUs."""
    num_cpus: float = Field(default=1.0, gt=0)
    """CPUs reserved per worker (on 2 cores, 0.5 leaves room for Ray's read tasks)."""
    num_gpus: float | None = Field(default=None, ge=0)
    """GPUs per worker; None: 1 when the cluster has GPUs, else 0."""
