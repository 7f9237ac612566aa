"""The pieces every configuration model shares: strict frozen models, ids, http(s) URLs."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

SLUG = r"^[a-z][a-z0-9_]*$"


class Strict(BaseModel):
    """A configuration model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def http_url(value: str) -> str:
    """A pydantic validator: ``value`` is an http(s) URL with a host."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value
