"""The event generator: what happens on the simulated instance, one event at a time.

Every decision comes from one ``random.Random`` seeded from the configuration and is taken in a
fixed order, and choices among earlier statuses use publication order, never timestamps: the
same seed and the same sequence of calls give the same events. Only timestamps (and the snowflake
ids, which encode them) follow the clock.

Event mix (once a few statuses exist): about 80 % ``update`` (new statuses), 10 % ``status.update``
(edits, possibly several of the same status), 8 % ``delete`` of an earlier status and 2 % deletes
of ids that were never published here.

New statuses: 40 % local, 60 % remote. Remote posts usually arrive 0.2–3 s after they were
written; 12 % are back-dated by 1–30 minutes (late federation). Their ids derive from their
original ``created_at``, so they sort below ids already served. About 27 % are replies (threads
of self-replies and replies to others, several levels deep).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from . import markup, texts
from .accounts import AccountRecord, Directory, custom_emoji
from .config import SimulatorConfig
from .ids import snowflake, to_ms, truncate_ms
from .records import PollRecord, Popularity, StatusRecord, Version
from .state import Store

LANGUAGES: list[str | None] = ["en", "de", "fr", "es", "ja", None]
POLL_CHOICES = ["Yes", "No", "Maybe", "Tea", "Coffee", "Both", "Neither", "Later"]
BLURHASH_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
HUGE_CONTENT_BYTES = 256 * 1024


@dataclass
class Emission:
    """The outcome of one generator step, before it is serialised and broadcast."""

    kind: str
    status_id: int
    record: StatusRecord | None


class ContentGenerator:
    """Generates events and applies them to the :class:`Store` (call with ``store.lock`` held)."""

    def __init__(self, config: SimulatorConfig, directory: Directory, store: Store) -> None:
        self.config = config
        self.directory = directory
        self.store = store
        self.domain = directory.instance_domain
        self.rng = random.Random(f"{config.seed}:content:{config.scenario}")
        self.spike_rotation = self._interleave_by_domain()
        self.spike_next = 0

    # Public entry ---------------------------------------------------------------------------

    def step(self, now: dt.datetime, seq: int) -> Emission:
        """Decide and apply the event with sequence number ``seq`` happening at ``now``."""
        now = truncate_ms(now)
        roll = self.rng.random()
        recent = self.store.recent_alive(200)
        if roll < 0.80 or len(recent) < 5:
            return self._new_status(now, seq)
        if roll < 0.90:
            return self._edit(now, seq, recent)
        if roll < 0.98:
            return self._delete(now, seq, recent)
        return self._delete_unknown(now)

    # Malformations that change the status itself (not only the frame) ----------------------

    def make_nul(self, record: StatusRecord) -> None:
        """Put a NUL character into the latest revision's text (JSON carries it as ``\\u0000``)."""
        version = record.versions[-1]
        blocks = [list(lines) for lines in version.blocks]
        blocks[0][-1] = blocks[0][-1] + "\x00"
        version.blocks = blocks
        version.content = markup.paragraphs(blocks)

    def make_huge(self, record: StatusRecord) -> None:
        """Grow the latest revision's text to about 256 KiB (a long-form remote post)."""
        version = record.versions[-1]
        bank = texts.SENTENCES.get(record.language or "en", texts.SENTENCES["en"])
        extra: list[list[str]] = []
        size = len(version.content.encode())
        index = 0
        while size < HUGE_CONTENT_BYTES:
            line = markup.escape(bank[index % len(bank)])
            extra.append([line, line])
            size += 2 * len(line.encode()) + 11
            index += 1
        version.blocks = [list(lines) for lines in version.blocks] + extra
        version.content = markup.paragraphs(version.blocks)

    # New statuses ---------------------------------------------------------------------------

    def _new_status(self, now: dt.datetime, seq: int) -> Emission:
        rng = self.rng
        spike_tag, chatter_tag = self._scenario_tags(seq)
        if spike_tag:
            author = self.directory.get(self.spike_rotation[self.spike_next % len(self.spike_rotation)])
            self.spike_next += 1
        elif rng.random() < 0.4:
            author = self.directory.get(rng.choice(self.directory.posters_local))
        else:
            author = self.directory.get(rng.choice(self.directory.posters_remote))
        language = author.language if rng.random() < 0.85 else rng.choice(LANGUAGES)

        parent = None if spike_tag else self._pick_parent(author, rng.random())
        mention_ids: list[int] = []
        if parent is not None and parent.account_id != author.id:
            mention_ids.append(parent.account_id)
            for other in parent.versions[-1].mention_ids:
                if other not in mention_ids and other != author.id and rng.random() < 0.5:
                    mention_ids.append(other)
        extra_mention = None
        if rng.random() < 0.12:
            pool = self.directory.mention_only if rng.random() < 0.6 else self.directory.posters
            candidate = rng.choice(pool)
            if candidate != author.id and candidate not in mention_ids:
                extra_mention = candidate
                mention_ids.append(candidate)

        tags = self._pick_tags(language)
        if chatter_tag:
            tags.append(texts.CHATTER_TAG)
        if spike_tag:
            tags.append(texts.SPIKE_TAG)
        link = rng.choice(texts.LINKS) if rng.random() < 0.2 else None
        emoji_code = rng.choice(texts.CUSTOM_EMOJIS) if rng.random() < 0.05 else None

        # Timing and identity.
        if author.local:
            created_at, backdated = now, 0.0
        elif rng.random() < 0.12:
            backdated = round(rng.uniform(60, 1800), 3)
            created_at = truncate_ms(now - dt.timedelta(seconds=backdated))
        else:
            backdated = round(rng.uniform(0.2, 3.0), 3)
            created_at = truncate_ms(now - dt.timedelta(seconds=backdated))
        status_id = self.store.ids.allocate(to_ms(created_at), rng.randrange(0, 0x8000))
        uri, url = self._uri_url(author, created_at, status_id)

        blocks = self._body(author, language, parent, mention_ids, extra_mention, tags, link, emoji_code)
        if author.signature:
            blocks.append([markup.escape(author.signature.replace("{id}", str(status_id)))])
        spoiler, sensitive = "", False
        if rng.random() < 0.08:
            spoiler = rng.choice(texts.SPOILERS.get(language or "", texts.SPOILERS["en"]))
            sensitive = True
        media = self._media(author, rng.random())
        if media and not sensitive and rng.random() < 0.1:
            sensitive = True
        poll = None
        poll_options = None
        if not media and rng.random() < 0.05:
            poll, poll_options = self._poll(created_at)
        emojis = [custom_emoji(author.home(self.domain), emoji_code, 17 + texts.CUSTOM_EMOJIS.index(emoji_code))] \
            if emoji_code else []
        card = self._card(link, language) if link and rng.random() < 0.6 else None
        application = None
        if author.local:
            name, website = rng.choice(texts.APPLICATIONS)
            application = {"name": name, "website": website}

        version = Version(
            seq=seq,
            at=created_at,
            content=markup.paragraphs(blocks),
            spoiler_text=spoiler,
            sensitive=sensitive,
            media=media,
            poll_options=poll_options,
            emojis=emojis,
            tags=tags,
            mention_ids=mention_ids,
            blocks=blocks,
        )
        record = StatusRecord(
            id=status_id,
            account_id=author.id,
            local=author.local,
            created_at=created_at,
            published_at=now,
            published_seq=seq,
            uri=uri,
            url=url,
            in_reply_to_id=parent.id if parent else None,
            in_reply_to_account_id=parent.account_id if parent else None,
            language=language,
            application=application,
            card=card,
            poll=poll,
            popularity=self._popularity(backdated),
            versions=[version],
            backdated_seconds=backdated if backdated >= 60 else 0.0,
        )
        self.store.add_status(record)
        return Emission("update", status_id, record)

    def _scenario_tags(self, seq: int) -> tuple[bool, bool]:
        cfg = self.config
        if cfg.scenario != "spike":
            return False, False
        in_burst = cfg.spike_start_event <= seq < cfg.spike_start_event + cfg.spike_length_events
        spike = self.rng.random() < (cfg.spike_share if in_burst else cfg.spike_quiet_share)
        chatter = self.rng.random() < cfg.chatter_share
        return spike, chatter

    def _pick_parent(self, author: AccountRecord, roll: float) -> StatusRecord | None:
        recent = self.store.recent_alive(120)
        if not recent:
            return None
        if roll < 0.12:
            own = [r for r in recent if r.account_id == author.id]
            return own[-1] if own else None
        if roll < 0.27:
            return self.rng.choice(recent)
        return None

    def _pick_tags(self, language: str | None) -> list[str]:
        roll = self.rng.random()
        count = 0 if roll < 0.55 else 1 if roll < 0.8 else 2 if roll < 0.92 else 3
        pool = [t for t in texts.HASHTAGS if t != "日曜日" or language == "ja"]
        return self.rng.sample(pool, count)

    def _body(
        self,
        author: AccountRecord,
        language: str | None,
        parent: StatusRecord | None,
        mention_ids: list[int],
        extra_mention: int | None,
        tags: list[str],
        link: tuple[str, str, str] | None,
        emoji_code: str | None,
    ) -> list[list[str]]:
        rng = self.rng
        plain = author.software == "misskey"
        home = author.home(self.domain)
        bank = texts.SENTENCES[language] if language else texts.UNDETERMINED
        sentences = [markup.escape(rng.choice(bank)) for _ in range(rng.randint(1, 4))]
        if emoji_code:
            sentences[-1] = f"{sentences[-1]} :{emoji_code}:"
        blocks: list[list[str]] = []
        current: list[str] = []
        for sentence in sentences:
            if current and rng.random() < 0.3:
                blocks.append(current)
                current = []
            if current and rng.random() < 0.3:
                current.append(sentence)
            elif current:
                current[-1] = f"{current[-1]} {sentence}"
            else:
                current.append(sentence)
        blocks.append(current)

        def mention_html(account_id: int) -> str:
            target = self.directory.get(account_id)
            if plain:
                return markup.plain_mention(target.profile_url(self.domain), target.acct())
            return markup.mention(target.profile_url(self.domain), target.username)

        leading = [m for m in mention_ids if m != extra_mention] if parent is not None else []
        if leading:
            blocks[0][0] = " ".join(mention_html(m) for m in leading) + " " + blocks[0][0]
        if extra_mention is not None:
            blocks[-1][-1] = f"{blocks[-1][-1]} cc {mention_html(extra_mention)}"
        if link is not None:
            anchor = markup.plain_link(link[0]) if plain else markup.link(link[0])
            blocks[-1][-1] = f"{blocks[-1][-1]} {anchor}"
        if tags:
            rendered = " ".join(
                markup.plain_hashtag(home, t) if plain else markup.hashtag(home, t) for t in tags
            )
            if rng.random() < 0.5:
                blocks.append([rendered])
            else:
                blocks[-1][-1] = f"{blocks[-1][-1]} {rendered}"
        return blocks

    def _uri_url(self, author: AccountRecord, created_at: dt.datetime, local_id: int) -> tuple[str, str]:
        if author.local:
            return (
                f"https://{self.domain}/users/{author.username}/statuses/{local_id}",
                f"https://{self.domain}/@{author.username}/{local_id}",
            )
        if author.software == "misskey":
            note = f"{to_ms(created_at):x}{self.rng.getrandbits(24):06x}"
            uri = f"https://{author.domain}/notes/{note}"
            return uri, uri
        origin_id = snowflake(to_ms(created_at), self.rng.randrange(0, 0x10000))
        return (
            f"https://{author.domain}/users/{author.username}/statuses/{origin_id}",
            f"https://{author.domain}/@{author.username}/{origin_id}",
        )

    def _media(self, author: AccountRecord, roll: float) -> list[dict[str, Any]]:
        if roll >= 0.2:
            return []
        rng = self.rng
        kind_roll = rng.random()
        if kind_roll < 0.7:
            kind, count = "image", rng.choice([1, 1, 1, 2, 3, 4])
        elif kind_roll < 0.82:
            kind, count = "video", 1
        elif kind_roll < 0.92:
            kind, count = "gifv", 1
        else:
            kind, count = "audio", 1
        return [self._attachment(author, kind) for _ in range(count)]

    def _attachment(self, author: AccountRecord, kind: str) -> dict[str, Any]:
        rng = self.rng
        media_id = snowflake(to_ms(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)) + rng.randrange(0, 10**11),
                             rng.randrange(0, 0x10000))
        partition = "/".join(f"{media_id:018d}"[i : i + 3] for i in range(0, 18, 3))
        digest = f"{rng.getrandbits(64):016x}"
        ext = {"image": "jpg", "video": "mp4", "gifv": "mp4", "audio": "mp3"}[kind]
        if author.local:
            base = f"https://files.{self.domain}/media_attachments/files/{partition}"
            remote_url = None
        else:
            base = f"https://files.{self.domain}/cache/media_attachments/files/{partition}"
            remote_url = f"https://files.{author.domain}/media_attachments/files/{digest[:3]}/{digest}.{ext}"
        width, height = rng.choice([(1280, 720), (1080, 1350), (4032, 3024), (800, 800), (1920, 1080)])
        small_w = 640 if width >= height else int(640 * width / height)
        small_h = int(small_w * height / width)
        small = {"width": small_w, "height": small_h, "size": f"{small_w}x{small_h}",
                 "aspect": round(small_w / small_h, 6)}
        original = {"width": width, "height": height, "size": f"{width}x{height}",
                    "aspect": round(width / height, 6)}
        meta: dict[str, Any]
        if kind == "image":
            meta = {"original": original, "small": small,
                    "focus": {"x": round(rng.uniform(-1, 1), 2), "y": round(rng.uniform(-1, 1), 2)}}
        elif kind in ("video", "gifv"):
            duration = round(rng.uniform(2, 90), 2)
            meta = {
                "length": f"0:{int(duration) // 60:02d}:{duration % 60:05.2f}",
                "duration": duration,
                "fps": 30,
                "size": original["size"],
                "width": width,
                "height": height,
                "aspect": original["aspect"],
                "original": {**original, "frame_rate": "30/1", "duration": duration,
                             "bitrate": rng.randrange(500_000, 4_000_000)},
                "small": small,
            }
            if kind == "video":
                meta.update({"audio_encode": "aac (LC) (mp4a / 0x6134706D)", "audio_bitrate": "44100 Hz",
                             "audio_channels": "stereo"})
        else:
            duration = round(rng.uniform(20, 600), 2)
            meta = {
                "length": f"0:{int(duration) // 60:02d}:{duration % 60:05.2f}",
                "duration": duration,
                "audio_encode": "mp3",
                "audio_bitrate": "44100 Hz",
                "audio_channels": "stereo",
                "original": {"duration": duration, "bitrate": 128_000},
            }
        description = rng.choice(texts.MEDIA_DESCRIPTIONS) or None
        blurhash = None if kind == "audio" else "".join(rng.choice(BLURHASH_ALPHABET) for _ in range(28))
        return {
            "id": str(media_id),
            "type": kind,
            "url": f"{base}/original/{digest}.{ext}",
            "preview_url": f"{base}/small/{digest}.{'png' if kind == 'audio' else 'jpg'}",
            "remote_url": remote_url,
            "preview_remote_url": None,
            "text_url": None,
            "meta": meta,
            "description": description,
            "blurhash": blurhash,
        }

    def _poll(self, created_at: dt.datetime) -> tuple[PollRecord, list[str]]:
        rng = self.rng
        options = rng.sample(POLL_CHOICES, rng.randint(2, 4))
        raw = [rng.random() + 0.05 for _ in options]
        total = sum(raw)
        multiple = rng.random() < 0.3
        weights = [w / total * (1.6 if multiple else 1.0) for w in raw]
        poll = PollRecord(
            id=rng.randrange(10**5, 10**7),
            expires_at=created_at + dt.timedelta(seconds=rng.choice([3600, 6 * 3600, 86400, 3 * 86400])),
            multiple=multiple,
            weights=weights,
            voters_max=rng.randrange(3, 400),
        )
        return poll, options

    def _card(self, link: tuple[str, str, str], language: str | None) -> dict[str, Any]:
        url, title, description = link
        rng = self.rng
        has_image = rng.random() < 0.7
        video = "video." in url
        return {
            "url": url,
            "title": title,
            "description": description,
            "language": language or "en",
            "type": "video" if video else "link",
            "author_name": "",
            "author_url": "",
            "provider_name": "Example Video" if video else "",
            "provider_url": "",
            "html": f'<iframe src="{url}/embed" width="480" height="270" allowfullscreen="true"></iframe>'
            if video else "",
            "width": 480 if video else (400 if has_image else 0),
            "height": 270 if video else (210 if has_image else 0),
            "image": f"https://files.{self.domain}/cache/preview_cards/images/{rng.getrandbits(48):012x}.jpg"
            if has_image else None,
            "image_description": "",
            "embed_url": "",
            "blurhash": "".join(rng.choice(BLURHASH_ALPHABET) for _ in range(28)) if has_image else None,
            "published_at": None,
            "authors": [],
        }

    def _popularity(self, backdated: float) -> Popularity:
        rng = self.rng
        weight = rng.paretovariate(1.3) - 1.0
        favourites = int(weight * 12)
        reblogs = int(favourites * rng.uniform(0.1, 0.5))
        return Popularity(
            favourites_max=favourites,
            reblogs_max=reblogs,
            quotes_max=int(reblogs * 0.1),
            extra_replies_max=int(favourites * rng.uniform(0.0, 0.2)),
            tau=rng.uniform(15.0, 150.0),
            head_start=int(backdated // 10),
        )

    # Edits and deletes ---------------------------------------------------------------------

    def _edit(self, now: dt.datetime, seq: int, recent: list[StatusRecord]) -> Emission:
        rng = self.rng
        record = rng.choice(recent[-60:])
        previous = record.versions[-1]
        blocks = [list(lines) for lines in previous.blocks]
        tags = list(previous.tags)
        spoiler, sensitive = previous.spoiler_text, previous.sensitive
        media = previous.media
        roll = rng.random()
        language_key = record.language or ""
        if roll < 0.55:
            suffix = rng.choice(texts.EDIT_SUFFIXES.get(language_key, texts.EDIT_SUFFIXES["en"]))
            blocks.append([markup.escape(suffix)])
        elif roll < 0.75:
            bank = texts.SENTENCES.get(language_key, texts.UNDETERMINED)
            blocks[-1].append(markup.escape(rng.choice(bank)))
        elif roll < 0.87:
            new_tag = rng.choice([t for t in texts.HASHTAGS if t.lower() not in {x.lower() for x in tags}])
            tags.append(new_tag)
            author = self.directory.get(record.account_id)
            home = author.home(self.domain)
            tag_html = (markup.plain_hashtag(home, new_tag) if author.software == "misskey"
                        else markup.hashtag(home, new_tag))
            blocks.append([tag_html])
        elif roll < 0.95:
            if spoiler:
                spoiler, sensitive = "", False
            else:
                spoiler = rng.choice(texts.SPOILERS.get(language_key, texts.SPOILERS["en"]))
                sensitive = True
        else:
            blocks[0][0] = blocks[0][0].replace(". ", ", ", 1) + " ✏️"
        if media and rng.random() < 0.3:
            media = [{**m, "description": rng.choice(texts.MEDIA_DESCRIPTIONS[:-1])} for m in media]
        version = Version(
            seq=seq,
            at=now,
            content=markup.paragraphs(blocks),
            spoiler_text=spoiler,
            sensitive=sensitive,
            media=media,
            poll_options=previous.poll_options,
            emojis=previous.emojis,
            tags=tags,
            mention_ids=list(previous.mention_ids),
            blocks=blocks,
        )
        record.versions.append(version)
        return Emission("status.update", record.id, record)

    def _delete(self, now: dt.datetime, seq: int, recent: list[StatusRecord]) -> Emission:
        record = self.rng.choice(recent[-150:])
        record.deleted_seq = seq
        record.deleted_at = now
        return Emission("delete", record.id, record)

    def _delete_unknown(self, now: dt.datetime) -> Emission:
        rng = self.rng
        age = rng.uniform(3600, 3 * 86400)
        ms = to_ms(now - dt.timedelta(seconds=age))
        status_id = snowflake(ms, rng.randrange(0, 0x10000))
        while status_id in self.store.ids or status_id in self.store.statuses:
            status_id += 1
        self.store.ids.reserve(status_id)
        return Emission("delete", status_id, None)

    # Helpers -------------------------------------------------------------------------------

    def _interleave_by_domain(self) -> list[int]:
        """All posters ordered so that consecutive ones come from different servers."""
        groups: dict[str, list[int]] = {}
        for account_id in self.directory.posters:
            account = self.directory.get(account_id)
            groups.setdefault(account.domain or self.domain, []).append(account_id)
        shuffler = random.Random(f"{self.config.seed}:spike")
        for members in groups.values():
            shuffler.shuffle(members)
        order = sorted(groups)
        shuffler.shuffle(order)
        rotation: list[int] = []
        while any(groups.values()):
            for domain in order:
                if groups[domain]:
                    rotation.append(groups[domain].pop())
        return rotation
