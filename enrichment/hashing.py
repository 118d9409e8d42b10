"""``input_hash``: the SHA-256 of exactly what a provider was given, plus the model and prompt version.

The payload is serialised as canonical JSON (sorted keys, no insignificant whitespace, non-ASCII kept), so
the same input always has the same hash and any change to the text, the model, the prompt version or the
parameters (e.g. label thresholds) gives a new one. A stored result whose ``input_hash`` equals the hash of
the input about to be sent is reused instead of sending the input again.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """Deterministic JSON text of ``value`` (datetimes and other objects as their ``str``)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def input_hash(payload: Any, *, model: str, prompt_version: str) -> str:
    """Hex SHA-256 over the canonical JSON of ``{"input": payload, "model": ..., "prompt_version": ...}``."""
    document = {"input": payload, "model": model, "prompt_version": prompt_version}
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()
