"""Status HTML the way Mastodon renders it: paragraphs, mentions, hashtags, shortened links.

Each function returns an HTML fragment; :func:`escape` is the only way plain text gets in, so
text is escaped exactly as Rails does it (``&amp;``, ``&lt;``, ``&gt;``, ``&quot;``, ``&#39;``).
"""

from __future__ import annotations

import re
from urllib.parse import quote

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
_ESCAPE_RE = re.compile(r"[&<>\"']")
_PREFIX_RE = re.compile(r"\A(https?://(www\.)?|xmpp:)")


def escape(text: str) -> str:
    """Escape text for HTML like Rails' ``html_escape``."""
    return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0)], text)


def tag_href(domain: str, display_name: str) -> str:
    """URL of a hashtag page on ``domain`` (non-ASCII percent-encoded, case kept)."""
    return f"https://{domain}/tags/{quote(display_name)}"


def hashtag(domain: str, display_name: str) -> str:
    """A hashtag link as Mastodon writes it in ``content``."""
    return (
        f'<a href="{escape(tag_href(domain, display_name))}" class="mention hashtag" rel="tag">'
        f"#<span>{escape(display_name)}</span></a>"
    )


def mention(profile_url: str, username: str) -> str:
    """A mention as Mastodon writes it: an h-card showing the bare username."""
    return (
        f'<span class="h-card" translate="no"><a href="{escape(profile_url)}" class="u-url mention">'
        f"@<span>{escape(username)}</span></a></span>"
    )


def link(url: str) -> str:
    """An external link, shortened for display the way Mastodon does it.

    The scheme (and a leading ``www.``) is hidden, the next 30 characters are shown, the rest is
    hidden behind an ellipsis.
    """
    prefix = _PREFIX_RE.match(url)
    prefix_text = prefix.group(0) if prefix else ""
    rest = url[len(prefix_text) :]
    display, suffix = rest[:30], rest[30:]
    ellipsis_class = "ellipsis" if suffix else ""
    return (
        f'<a href="{escape(url)}" target="_blank" rel="nofollow noopener" translate="no">'
        f'<span class="invisible">{escape(prefix_text)}</span>'
        f'<span class="{ellipsis_class}">{escape(display)}</span>'
        f'<span class="invisible">{escape(suffix)}</span></a>'
    )


def paragraphs(blocks: list[list[str]]) -> str:
    """Join paragraphs (each a list of HTML lines) into ``<p>`` elements with ``<br>`` line breaks."""
    return "".join("<p>" + "<br>".join(lines) + "</p>" for lines in blocks if lines)


# Markup used by non-Mastodon servers (Misskey-like), which Mastodon sanitises but keeps simpler.


def plain_hashtag(domain: str, display_name: str) -> str:
    """A hashtag as a Misskey-like server sends it."""
    return f'<a href="{escape(tag_href(domain, display_name))}" rel="tag">#{escape(display_name)}</a>'


def plain_mention(profile_url: str, acct: str) -> str:
    """A mention as a Misskey-like server sends it: the full handle, no h-card."""
    return f'<a href="{escape(profile_url)}" class="u-url mention">@{escape(acct)}</a>'


def plain_link(url: str) -> str:
    """A link as a Misskey-like server sends it: unshortened."""
    return f'<a href="{escape(url)}">{escape(url)}</a>'
