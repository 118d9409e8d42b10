"""Test doubles: a local HTTP server speaking the OpenAI chat-completions API, and scripted providers.

``FakeOpenAI`` listens on 127.0.0.1 and answers ``POST .../chat/completions`` (OpenAI, base-URL and Azure
paths) like a small deterministic model: it reads the posts from the ``<posts>`` block of the user message
and answers the task the system message describes (sentiment per post, a daily summary with placeholders,
topics by hashtag). Tests can queue raw replies (status, body, headers) that are served first, switch on a
"compromised" mode in which any post containing "ignore previous instructions" hijacks the answer, slow
answers down, and read every request received (path, query, headers, JSON body) and the peak number of
requests in flight.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from enrichment.providers.base import SentimentItem, SentimentOutcome

POSITIVE = re.compile(r"\b(love|lovely|great|wonderful|happy|thanks|stunning|excellent)\b", re.I)
NEGATIVE = re.compile(r"\b(hate|awful|terrible|miserable|late|furchtbar|schrecklicher)\b", re.I)
INJECTION = re.compile(r"ignore previous instructions", re.I)
# Tabs, newlines, backslashes and a NUL byte: what a real error message may carry into COPY.
SCRIPTED_ERROR = 'scripted failure: HTTP 500\n\tat "C:\\temp\\x"\x00'


def posts_in(message: str, block: str = "posts") -> list[dict[str, Any]]:
    match = re.search(rf"<{block}>\n(.*)\n</{block}>", message, re.S)
    return json.loads(match.group(1)) if match else []


def fake_score(text: str) -> float:
    return 0.8 if POSITIVE.search(text) else (-0.7 if NEGATIVE.search(text) else 0.0)


class FakeOpenAI:
    """The fake endpoint; use as a context manager."""

    def __init__(self, *, model: str = "fake-gpt") -> None:
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.queued: list[tuple[int, Any, dict[str, str]]] = []
        self.compromised = False
        self.delay_seconds = 0.0
        self.in_flight = 0
        self.peak_in_flight = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                parts = urlsplit(self.path)
                status, payload, headers = fake.handle(parts.path, parse_qs(parts.query), dict(self.headers), body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- lifecycle -----------------------------------------------------------------------------------------
    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        return self.root_url + "/v1"

    # -- behaviour -----------------------------------------------------------------------------------------
    def queue(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """Serve this reply to the next request (before the model answers again)."""
        self.queued.append((status, body, headers or {}))

    def requests_for(self, task: str) -> list[dict[str, Any]]:
        """The requests of a task: sentiment, summary or topics."""
        return [r for r in self.requests if r["task"] == task]

    def handle(self, path: str, query: dict, headers: dict, body: dict) -> tuple[int, Any, dict[str, str]]:
        system = next((m["content"] for m in body.get("messages", []) if m["role"] == "system"), "")
        user = next((m["content"] for m in body.get("messages", []) if m["role"] == "user"), "")
        task = "sentiment" if "rate the sentiment" in system else ("summary" if "daily summary" in system
                                                                   else "topics")
        with self._lock:
            self.requests.append({"path": path, "query": query, "headers": {k.lower(): v for k, v in headers.items()},
                                  "body": body, "task": task, "system": system, "user": user})
            number = len(self.requests)  # the reply's id: taken under the lock, unique with concurrent requests
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            reply = self.queued.pop(0) if self.queued else None
        try:
            if self.delay_seconds:
                time.sleep(self.delay_seconds)
            if reply is not None:
                return reply
            answer = self.answer(task, user)
            return 200, self.completion(answer, user, number), {}
        finally:
            with self._lock:
                self.in_flight -= 1

    def completion(self, content: Any, prompt: str, number: int | None = None) -> dict[str, Any]:
        text = content if isinstance(content, str) else json.dumps(content)
        return {
            "id": f"chatcmpl-{len(self.requests) if number is None else number}", "object": "chat.completion",
            "created": 1764000000,
            "model": self.model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": len(prompt) // 4 + 1, "completion_tokens": len(text) // 4 + 1,
                      "total_tokens": len(prompt) // 4 + len(text) // 4 + 2},
        }

    def answer(self, task: str, user: str) -> Any:
        posts = posts_in(user)
        hijacked = self.compromised and any(INJECTION.search(p.get("text", "")) for p in posts)
        if task == "sentiment":
            if hijacked:
                return {"hacked": True}
            return {"results": [{"id": p["id"], "score": fake_score(p["text"])} for p in posts]}
        if task == "summary":
            if hijacked:
                return {"summary_text": "There were 1,000,000 posts today.", "trending_topics": [],
                        "notable_events": []}
            return {"summary_text": "People shared {post_count} posts from {unique_authors} authors, mostly "
                                    "about everyday life; {positive_percent}% of the scored posts were positive.",
                    "trending_topics": ["everyday life"], "notable_events": ["A lively day of conversation."]}
        by_tag: dict[str, list[str]] = {}
        for post in posts:
            for tag in post.get("hashtags", [])[:1]:
                by_tag.setdefault(tag, []).append(post["id"])
        topics = [{"topic": f"#{tag}", "summary": f"Posts about {tag}.", "post_ids": ids}
                  for tag, ids in sorted(by_tag.items(), key=lambda kv: -len(kv[1]))[:3]]
        if hijacked:
            topics = [dict(t, post_ids=[*t["post_ids"], "p999"]) for t in topics] or [
                {"topic": "hijacked", "summary": "Injected.", "post_ids": ["p999"]}]
        return {"topics": topics}


class ScriptedSentiment:
    """An offline-like sentiment provider whose outcome per call is scripted; records what it was given."""

    name = "scripted"
    prompt_version = "scripted-v1"

    def __init__(self, *, fail: Callable[[SentimentItem], bool] = lambda item: False,
                 model: str = "scripted-1") -> None:
        self.model = model
        self.fail = fail
        self.seen: list[SentimentItem] = []

    def skip_reason(self, item: SentimentItem) -> str | None:
        return None if item.text.strip() else "empty_text"

    def score(self, items: list[SentimentItem]) -> list[SentimentOutcome]:
        self.seen.extend(items)
        return [SentimentOutcome(error=SCRIPTED_ERROR) if self.fail(item)
                else SentimentOutcome(score=fake_score(item.text), request_post_count=1) for item in items]
