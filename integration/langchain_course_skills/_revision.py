"""The Hub commit a model was loaded from, read from the Hugging Face cache's folder layout."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from langchain_course_skills.models.loading import cached_config

logger = logging.getLogger(__name__)

_COMMIT = re.compile("[0-9a-f]{40}")  # a snapshot folder is named by its commit hash


def _snapshot_commit(folder: Path) -> str | None:
    """The commit of a `.../snapshots/<commit>/` folder; None for any other folder."""
    if folder.parent.name == "snapshots" and _COMMIT.fullmatch(folder.name):
        return folder.name
    return None


def model_revision(model_name: str, model_kwargs: Mapping[str, Any] | None = None) -> str | None:
    """Return the Hub commit of a model in the Hugging Face cache, or None if there is none.

    A plain local folder has no revision; a Hub id resolves (without the network) to the
    cached snapshot of `revision` (default: main) in `cache_folder` (default: the HF cache).

    Args:
        model_name: A Hub id or a local folder, as the model was loaded.
        model_kwargs: The loading options (`revision`, `cache_folder`), if any.
    """
    path = Path(model_name).expanduser()
    if path.is_dir():
        return _snapshot_commit(path.resolve())
    try:
        found = cached_config(model_name, model_kwargs or {})
    except Exception:  # an id the Hub library refuses: nothing to record
        logger.debug("no cached revision for %s", model_name, exc_info=True)
        return None
    return _snapshot_commit(found.parent) if found is not None else None
