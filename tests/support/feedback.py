"""Shared by the unit and the integration tests of feedback."""

from __future__ import annotations

COURSE = "Music management: lead the orchestra's staff"


URIS = [f"http://data.europa.eu/esco/skill/{n}" for n in ("a", "b", "c")]
