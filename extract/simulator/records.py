"""Internal records of statuses and their versions.

Records are append-only where they change over time (versions, replies, the deletion mark), each
change stamped with the event sequence number at which it happened. Anything can therefore be
rendered "as of" an earlier sequence number without copying, which is what makes ground-truth
snapshots cheap.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field


@dataclass
class Version:
    """One revision of a status (the original is the first)."""

    seq: int
    at: dt.datetime
    content: str
    spoiler_text: str
    sensitive: bool
    media: list[dict[str, object]]
    poll_options: list[str] | None
    emojis: list[dict[str, object]]
    tags: list[str]
    mention_ids: list[int]
    blocks: list[list[str]] = field(default_factory=list, repr=False)
    """The paragraphs (lists of HTML lines) ``content`` was built from, kept for later edits."""


@dataclass
class PollRecord:
    """A poll; its votes grow with the number of events since the status appeared."""

    id: int
    expires_at: dt.datetime
    multiple: bool
    weights: list[float]
    voters_max: int


@dataclass
class Popularity:
    """Deterministic engagement curve: ``count = max * (1 - exp(-age / tau))``.

    ``age`` is the number of events since the status was published plus ``head_start`` (a
    back-dated remote post arrives with engagement it already gathered on its origin server).
    """

    favourites_max: int
    reblogs_max: int
    quotes_max: int
    extra_replies_max: int
    tau: float
    head_start: int

    def grown(self, maximum: int, age: int) -> int:
        if maximum <= 0 or age <= 0:
            return 0
        return int(maximum * (1.0 - math.exp(-age / self.tau)))


@dataclass
class StatusRecord:
    """Everything the simulator knows about one status."""

    id: int
    account_id: int
    local: bool
    created_at: dt.datetime
    published_at: dt.datetime
    published_seq: int
    uri: str
    url: str
    in_reply_to_id: int | None
    in_reply_to_account_id: int | None
    language: str | None
    application: dict[str, object] | None
    card: dict[str, object] | None
    poll: PollRecord | None
    popularity: Popularity
    versions: list[Version]
    backdated_seconds: float = 0.0
    visibility: str = "public"
    deleted_seq: int | None = None
    deleted_at: dt.datetime | None = None
    reply_ids: list[int] = field(default_factory=list)

    def version_at(self, seq: int) -> Version:
        """The revision current at event ``seq``."""
        current = self.versions[0]
        for version in self.versions:
            if version.seq <= seq:
                current = version
            else:
                break
        return current

    def versions_at(self, seq: int) -> list[Version]:
        return [v for v in self.versions if v.seq <= seq] or self.versions[:1]

    def deleted_by(self, seq: int) -> bool:
        return self.deleted_seq is not None and self.deleted_seq <= seq

    def exists_at(self, seq: int) -> bool:
        return self.published_seq <= seq and not self.deleted_by(seq)

    @property
    def is_reply(self) -> bool:
        return self.in_reply_to_id is not None

    @property
    def is_self_reply(self) -> bool:
        return self.in_reply_to_account_id == self.account_id

    @property
    def on_public_timeline(self) -> bool:
        """Public posts that are not replies to someone else (self-replies are included)."""
        return self.visibility == "public" and (not self.is_reply or self.is_self_reply)
