"""Mastodon.py, set up for a raw event log.

Mastodon.py handles the REST protocol: instance discovery, paging, and rate limits (it reads the
``X-RateLimit-*`` headers and, in ``wait`` mode, sleeps until the window resets on a 429). It turns every
answer into typed objects, though, and the raw log must keep the JSON as the server sent it — so the
client's ``requests`` session carries a response hook that keeps the bytes of the last answer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import requests
from mastodon import Mastodon

USER_AGENT = "forkalytics/0.1 (+https://github.com/forkalytics)"


@dataclass
class CapturedResponse:
    url: str
    status_code: int
    content: bytes
    headers: dict[str, str]


class RawCapture:
    """A ``requests`` response hook that remembers the last answer's bytes, per thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __call__(self, response: requests.Response, *args, **kwargs) -> requests.Response:
        if not kwargs.get("stream") and "text/event-stream" not in response.headers.get("Content-Type", ""):
            self._local.last = CapturedResponse(url=response.url, status_code=response.status_code,
                                                content=response.content, headers=dict(response.headers))
        return response

    @property
    def last(self) -> CapturedResponse | None:
        return getattr(self._local, "last", None)


def make_client(base_url: str, access_token: str | None, *, timeout: float = 30.0,
                ratelimit_method: str = "wait") -> tuple[Mastodon, RawCapture]:
    """A Mastodon.py client whose answers' raw bytes are available through the returned capture."""
    session = requests.Session()
    capture = RawCapture()
    session.hooks["response"].append(capture)
    client = Mastodon(api_base_url=base_url, access_token=access_token, session=session,
                      request_timeout=timeout, ratelimit_method=ratelimit_method, version_check_mode="none",
                      user_agent=USER_AGENT)
    return client, capture
