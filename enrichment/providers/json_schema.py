"""A small JSON Schema validator for model answers (the subset the prompts use, no dependency).

Supported keywords: ``type`` (object, array, string, number, integer, boolean, null, or a list of them),
``properties``, ``required``, ``additionalProperties`` (boolean), ``items``, ``minItems``, ``maxItems``,
``minLength``, ``maxLength``, ``minimum``, ``maximum``, ``enum``. Numbers exclude booleans; integers are
whole numbers. :func:`validate` returns every violation as ``"<path>: <problem>"``; an empty list means valid.
"""

from __future__ import annotations

import math
from typing import Any

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def validate(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """All violations of ``schema`` by ``value``."""
    errors: list[str] = []
    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        if not any(_TYPES[name](value) for name in names):
            return [f"{path}: expected {' or '.join(names)}, got {_kind(value)}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']!r}")
    if isinstance(value, dict):
        errors.extend(_object(value, schema, path))
    elif isinstance(value, list):
        errors.extend(_array(value, schema, path))
    elif isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: longer than {schema['maxLength']} characters")
    elif _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: {value} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: {value} is above the maximum {schema['maximum']}")
    return errors


def _object(value: dict, schema: dict[str, Any], path: str) -> list[str]:
    errors = [f"{path}: missing required property {name!r}" for name in schema.get("required", [])
              if name not in value]
    properties = schema.get("properties", {})
    for name, item in value.items():
        if name in properties:
            errors.extend(validate(item, properties[name], f"{path}.{name}"))
        elif schema.get("additionalProperties", True) is False:
            errors.append(f"{path}: unexpected property {name!r}")
    return errors


def _array(value: list, schema: dict[str, Any], path: str) -> list[str]:
    errors = []
    if len(value) < schema.get("minItems", 0):
        errors.append(f"{path}: fewer than {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{path}: more than {schema['maxItems']} items")
    if "items" in schema:
        for index, item in enumerate(value):
            errors.extend(validate(item, schema["items"], f"{path}[{index}]"))
    return errors


def _kind(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _TYPES[name](value):
            return name
    return type(value).__name__
