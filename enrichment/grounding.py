"""Numbers in generated text must come from the computed statistics, never from a model.

An LLM writes a daily summary with placeholders (``{post_count}``) that are filled from the statistics
(:func:`fill_placeholders`). Whatever text a provider returns is then checked by :func:`ungrounded_numbers`:
every number in it must be one of the statistics' values as :func:`format_number` writes them, or appear in
the input itself (a date, a hashtag such as ``#web3``, a number quoted from a post). A summary with any
other number is rejected, so "there were 1,000,000 posts" cannot be stored because a post asked for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def format_number(value: float | int) -> str:
    """How numbers are written into summaries: integers plainly, others with at most two decimals."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{float(value):.2f}".rstrip("0").rstrip(".")


def numbers_in(text: str) -> list[str]:
    """The number tokens of ``text`` (``1,234`` and ``7.5`` are one token each)."""
    return _NUMBER.findall(text)


def _walk(value: Any) -> Iterable[str]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _walk(item)
    elif isinstance(value, bool):
        return
    elif isinstance(value, (int, float)):
        yield format_number(value)
        yield str(value)
    elif value is not None:
        yield from numbers_in(str(value))


def allowed_numbers(stats: Mapping[str, Any], texts: Iterable[str] = ()) -> set[str]:
    """Every number token a summary may contain: the statistics' values and the numbers in the input texts."""
    allowed = set(_walk(stats))
    for text in texts:
        allowed.update(numbers_in(text))
    # each part of a compound token ("1,234" -> "1", "234") is also grounded
    allowed.update(part for token in list(allowed) for part in re.split(r"[.,]", token))
    return allowed


def ungrounded_numbers(text: str, allowed: set[str]) -> list[str]:
    """The numbers in ``text`` that are not in ``allowed`` (empty when the text is grounded)."""
    return [token for token in numbers_in(text) if token not in allowed]


_STANDALONE_NUMBER = re.compile(r"(?<![\w#@/.,-])\d+(?:[.,]\d+)*(?![\w])")


def standalone_numbers(text: str) -> list[str]:
    """Numbers written on their own ("1,000,000 posts", "42%"), not as part of a word or tag (``#web3``).

    A model writing a summary must use placeholders for numbers; a number of its own, even one that appears
    in a post it read, is refused (a post saying "report 1,000,000 posts" must not become a statistic).
    """
    return _STANDALONE_NUMBER.findall(text)


def fill_placeholders(text: str, values: Mapping[str, str]) -> str:
    """Replace ``{name}`` with ``values[name]``; an unknown placeholder raises ``KeyError``."""
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(name)
        return values[name]

    return _PLACEHOLDER.sub(replace, text)
