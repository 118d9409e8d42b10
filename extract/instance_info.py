"""What an instance says about itself at start-up, and which of the configured streams can really work.

Mastodon 4.5+ can disable its live feeds (``configuration.timelines_access``): mastodon.social's public
stream then carries only deletes and its public timeline is empty. Collecting from such a stream would
silently gather nothing, so a stream the instance does not serve is refused here with one clear sentence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from mastodon import (
    MastodonAPIError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonUnauthorizedError,
)

from extract.mastodon_client import make_client
from orchestration.config import InstanceConfig
from orchestration.errors import UserError


@dataclass(frozen=True)
class StreamPlan:
    """Whether a configured stream will run, and why not (or what is partial) in one sentence."""

    stream: str
    enabled: bool
    message: str | None = None


@dataclass
class InstanceInfo:
    instance: InstanceConfig
    api_version: str
    payload: dict[str, Any]
    software_version: str | None
    title: str | None
    streaming_url: str
    timelines_access: dict[str, Any] | None
    plans: list[StreamPlan] = field(default_factory=list)
    observed_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def observation(self) -> dict[str, Any]:
        """The ``raw.instances`` row for this start-up."""
        return {
            "instance_id": self.instance.instance_id,
            "instance_url": self.instance.url,
            "api_version": self.api_version,
            "software_version": self.software_version,
            "title": self.title,
            "streaming_url": self.streaming_url,
            "streams_json": json.dumps(list(self.instance.streams)),
            "timelines_access_json": json.dumps(self.timelines_access) if self.timelines_access else None,
            "payload_json": json.dumps(self.payload, ensure_ascii=False),
            "observed_at": self.observed_at,
        }


def _http_base(streaming: str | None, fallback: str) -> str:
    """``wss://streaming.example`` -> ``https://streaming.example`` (SSE is plain HTTP)."""
    if not streaming:
        return fallback
    if streaming.startswith("wss://"):
        return "https://" + streaming[len("wss://"):]
    if streaming.startswith("ws://"):
        return "http://" + streaming[len("ws://"):]
    return streaming.rstrip("/")


def _feed_access(access: dict[str, Any] | None, group: str, scope: str) -> str:
    if not access:
        return "public"  # servers older than 4.5 have no switch: everything is served
    value = (access.get(group) or {}).get(scope)
    return value if value in ("public", "authenticated", "disabled") else "public"


def plan_stream(stream: str, access: dict[str, Any] | None, has_token: bool, instance: InstanceConfig) -> StreamPlan:
    """Decide whether one stream can deliver posts, from the instance's ``timelines_access``."""
    if stream.startswith("list:"):
        if not has_token:
            return StreamPlan(stream, False, f"{instance.url}: stream {stream} needs the list owner's access "
                                             f"token; set {instance.access_token_env or 'access_token_env'}.")
        return StreamPlan(stream, True)
    if stream.startswith("hashtag:"):
        group = "hashtag_feeds"
        scopes = ["local"] if stream.startswith("hashtag:local:") else ["local", "remote"]
    else:
        group = "live_feeds"
        scopes = {"public": ["local", "remote"], "public:local": ["local"], "public:remote": ["remote"]}[stream]
    states = {scope: _feed_access(access, group, scope) for scope in scopes}
    usable = [s for s, state in states.items() if state == "public" or (state == "authenticated" and has_token)]
    if not usable:
        if all(state == "disabled" for state in states.values()):
            return StreamPlan(stream, False, f"{instance.url} has disabled its {' and '.join(scopes)} "
                                             f"{'hashtag' if group == 'hashtag_feeds' else 'live'} feed, so "
                                             f"stream {stream} would deliver no posts; it is not started "
                                             "(hashtag streams may still work there).")
        env = instance.access_token_env or "an access_token_env"
        return StreamPlan(stream, False, f"{instance.url} serves stream {stream} only to logged-in users and "
                                         f"no access token is set; put a user token in {env}.")
    if len(usable) < len(scopes):
        missing = [s for s in scopes if s not in usable]
        return StreamPlan(stream, True, f"{instance.url} does not serve its {' and '.join(missing)} feed to "
                                        f"this client: stream {stream} carries only {' and '.join(usable)} posts.")
    return StreamPlan(stream, True)


def discover(instance: InstanceConfig, timeout: float = 20.0) -> InstanceInfo:
    """Read ``/api/v2/instance`` (``/api/v1/instance`` on older servers), check the token, plan the streams."""
    token = instance.access_token
    client, capture = make_client(instance.url, token, timeout=timeout)
    try:
        try:
            client.instance_v2()
            api_version = "v2"
        except MastodonNotFoundError:
            client.instance_v1()
            api_version = "v1"
        payload = json.loads(capture.last.content) if capture.last else {}
        if token:
            try:
                client.account_verify_credentials()
            except MastodonUnauthorizedError as exc:
                raise UserError(f"{instance.url} rejected the access token in {instance.access_token_env} "
                                f"({_api_error_text(exc)}); create a new user token with the read scope.") from None
    except MastodonUnauthorizedError as exc:
        if token:
            raise UserError(f"{instance.url} rejected the access token in {instance.access_token_env} "
                            f"({_api_error_text(exc)}); create a new user token with the read scope.") from None
        raise UserError(f"{instance.url} answers only to logged-in users ({_api_error_text(exc)}); put a user "
                        f"access token in {instance.access_token_env or 'the variable named by access_token_env'}."
                        ) from None
    except MastodonNetworkError as exc:
        raise UserError(f"Cannot reach {instance.url}: {_network_reason(exc)}.") from None
    except MastodonAPIError as exc:
        raise UserError(f"{instance.url} answered with an error when asked about itself "
                        f"({_api_error_text(exc)}); is it a Mastodon server?") from None
    except ValueError:
        raise UserError(f"{instance.url} did not answer with JSON; is it a Mastodon server?") from None

    if api_version == "v2":
        configuration = payload.get("configuration") or {}
        streaming = (configuration.get("urls") or {}).get("streaming")
        access = configuration.get("timelines_access")
    else:
        streaming = (payload.get("urls") or {}).get("streaming_api")
        access = None
    info = InstanceInfo(
        instance=instance, api_version=api_version, payload=payload,
        software_version=payload.get("version"), title=payload.get("title"),
        streaming_url=_http_base(streaming, instance.url), timelines_access=access,
    )
    info.plans = [plan_stream(s, access, token is not None, instance) for s in instance.streams]
    return info


def _api_error_text(exc: Exception) -> str:
    args = getattr(exc, "args", ())
    # Mastodon.py: (message, status code, reason, error text)
    if len(args) >= 4:
        return f"{args[1]} {args[3]}".strip()
    return str(exc)


def _network_reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out", "No route to host"):
        if marker.lower() in text.lower():
            return marker.lower()
    return "the connection failed"
