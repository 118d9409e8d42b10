"""The simulated instance's accounts: local users, remote users on a dozen servers, bystanders.

Built once from the seed. Roles:

* ``poster``: writes statuses (about 40 local, 60 remote);
* ``mention_only``: never posts, only gets mentioned (so a mention can point at an account the
  warehouse has never seen author anything);
* ``ingest``: the local account that owns the access token (``verify_credentials``) and list 1.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from . import markup, texts
from .ids import SnowflakeAllocator, to_ms

# Remote servers: (domain, software). Reserved example names, never real hosts.
REMOTE_DOMAINS: list[tuple[str, str]] = [
    ("mastodon.example", "mastodon"),
    ("fosstodon.example", "mastodon"),
    ("chaos.example", "mastodon"),
    ("social.example.org", "mastodon"),
    ("mstdn.example.jp", "mastodon"),
    ("photog.example", "mastodon"),
    ("hachyderm.example", "mastodon"),
    ("norden.example", "mastodon"),
    ("piaille.example.fr", "mastodon"),
    ("mas.example.es", "mastodon"),
    ("techhub.example", "mastodon"),
    ("misskey.example", "misskey"),
]

LOCAL_POSTERS = 40
REMOTE_POSTERS = 60
MENTION_ONLY = 16
LIST_ID = "1"
LIST_TITLE = "Friends"


@dataclass
class AccountRecord:
    """One account and the facts that never change; counts grow as the simulation runs."""

    id: int
    username: str
    domain: str | None
    software: str
    role: str
    display_name: str
    note: str
    bot: bool
    group: bool
    locked: bool
    discoverable: bool
    indexable: bool
    created_day: dt.date
    last_status_day: dt.date | None
    followers_count: int
    following_count: int
    base_statuses_count: int
    fields: list[dict[str, object]]
    emojis: list[dict[str, object]]
    language: str | None
    avatar: str
    header: str
    remote_key: str = ""
    signature: str | None = None  # a last paragraph of each new post ("{id}" becomes the status id)
    noindex: bool | None = None  # a local account's ``noindex``; None: not indexable
    status_ids: list[int] = field(default_factory=list)

    @property
    def local(self) -> bool:
        return self.domain is None

    def home(self, instance_domain: str) -> str:
        return self.domain or instance_domain

    def acct(self) -> str:
        """``username`` for local accounts, ``username@domain`` for remote ones."""
        return self.username if self.domain is None else f"{self.username}@{self.domain}"

    def profile_url(self, instance_domain: str) -> str:
        return f"https://{self.home(instance_domain)}/@{self.username}"

    def actor_uri(self, instance_domain: str) -> str:
        if self.software == "misskey":
            return f"https://{self.domain}/users/{self.remote_key}"
        return f"https://{self.home(instance_domain)}/users/{self.username}"


@dataclass
class Directory:
    """All accounts of the simulation, with the lookups the generator needs."""

    instance_domain: str
    accounts: dict[int, AccountRecord]
    posters_local: list[int]
    posters_remote: list[int]
    mention_only: list[int]
    ingest_id: int
    list_members: frozenset[int]

    def get(self, account_id: int) -> AccountRecord:
        return self.accounts[account_id]

    @property
    def posters(self) -> list[int]:
        return self.posters_local + self.posters_remote


def custom_emoji(domain: str, shortcode: str, number: int) -> dict[str, object]:
    """A CustomEmoji entity as Mastodon serves it."""
    path = f"custom_emojis/images/000/{number // 1000:03d}/{number % 1000:03d}/original/{shortcode}.png"
    static = path.replace("/original/", "/static/")
    return {
        "shortcode": shortcode,
        "url": f"https://files.{domain}/{path}",
        "static_url": f"https://files.{domain}/{static}",
        "visible_in_picker": True,
    }


def build_directory(seed: int, instance_domain: str, ingest_username: str) -> Directory:
    """Create every account for ``seed``; the same seed always yields the same directory."""
    rng = random.Random(f"{seed}:accounts")
    allocator = SnowflakeAllocator()
    accounts: dict[int, AccountRecord] = {}
    used_handles: set[tuple[str, str | None]] = set()
    legacy_id = rng.randrange(1, 400)

    def new_account(domain: str | None, software: str, role: str, legacy: bool = False) -> AccountRecord:
        nonlocal legacy_id
        username = _unique_username(rng, domain, used_handles)
        created = dt.date(2017, 4, 1) + dt.timedelta(days=rng.randrange(0, 2900))
        if legacy:
            created = dt.date(2016, 11, 1) + dt.timedelta(days=rng.randrange(0, 150))
            legacy_id += rng.randrange(1, 300)
            account_id = legacy_id
        else:
            midnight = dt.datetime(created.year, created.month, created.day, tzinfo=dt.timezone.utc)
            account_id = allocator.allocate(to_ms(midnight), rng.randrange(0, 0x8000))
        home = domain or instance_domain
        bot = role == "poster" and rng.random() < 0.06
        group = not bot and rng.random() < 0.02
        name = rng.choice(texts.DISPLAY_NAME_WORDS)
        emojis: list[dict[str, object]] = []
        if rng.random() < 0.15:
            shortcode = rng.choice(texts.CUSTOM_EMOJIS)
            name = f"{name} :{shortcode}:"
            emojis.append(custom_emoji(home, shortcode, rng.randrange(1, 5000)))
        elif rng.random() < 0.2:
            name = f"{name} {rng.choice(['🌻', '🚲', '📷', '🐈', '☕'])}"
        elif rng.random() < 0.1:
            name = ""
        note_text = rng.choice(texts.BOT_NOTES if bot else texts.NOTES)
        note = f"<p>{markup.escape(note_text)}</p>"
        fields = []
        if rng.random() < 0.5:
            fields.append(
                {
                    "name": "Website",
                    "value": markup.link(f"https://{username}.example.net/"),
                    "verified_at": "2024-03-01T10:00:00.000+00:00" if rng.random() < 0.3 else None,
                }
            )
        if rng.random() < 0.3:
            fields.append({"name": "Pronouns", "value": rng.choice(["she/her", "he/him", "they/them"]),
                           "verified_at": None})
        avatar_hex = f"{rng.getrandbits(64):016x}"
        record = AccountRecord(
            id=account_id,
            username=username,
            domain=domain,
            software=software,
            role=role,
            display_name=name,
            note=note,
            bot=bot,
            group=group,
            locked=rng.random() < 0.05,
            # Every account consents to indexing unless a test opts it out (SimulatedInstance.update_account);
            # the two draws stay so the rest of the directory is the same for a seed.
            discoverable=rng.random() < 2,
            indexable=rng.random() < 2,
            created_day=created,
            last_status_day=None,
            followers_count=int(rng.paretovariate(1.2) * 40),
            following_count=rng.randrange(0, 800),
            base_statuses_count=rng.randrange(0, 5000),
            fields=fields,
            emojis=emojis,
            language=None,
            avatar=f"https://files.{home}/accounts/avatars/{avatar_hex}.png",
            header=f"https://files.{home}/accounts/headers/{avatar_hex}.jpg",
            remote_key=f"{rng.getrandbits(40):010x}",
        )
        if record.base_statuses_count:
            record.last_status_day = created + dt.timedelta(days=rng.randrange(0, 300))
        accounts[record.id] = record
        return record

    posters_local = [new_account(None, "mastodon", "poster", legacy=i < 3).id for i in range(LOCAL_POSTERS)]
    posters_remote: list[int] = []
    for i in range(REMOTE_POSTERS):
        domain, software = REMOTE_DOMAINS[i % len(REMOTE_DOMAINS)]
        posters_remote.append(new_account(domain, software, "poster").id)
    mention_only = []
    for i in range(MENTION_ONLY):
        domain, software = (None, "mastodon") if i % 4 == 0 else REMOTE_DOMAINS[(i * 5) % len(REMOTE_DOMAINS)]
        mention_only.append(new_account(domain, software, "mention_only").id)
    used_handles.add((ingest_username, None))
    ingest = new_account(None, "mastodon", "ingest")
    ingest.username = ingest_username
    ingest.display_name = "Forkalytics ingest"
    ingest.bot = True
    ingest.note = "<p>Reads public timelines for analytics.</p>"

    languages = ["en", "en", "en", "de", "fr", "es", "ja", None]
    for account_id in posters_local + posters_remote:
        accounts[account_id].language = rng.choice(languages)
    members = rng.sample(posters_local, 4) + rng.sample(posters_remote, 4)
    return Directory(
        instance_domain=instance_domain,
        accounts=accounts,
        posters_local=posters_local,
        posters_remote=posters_remote,
        mention_only=mention_only,
        ingest_id=ingest.id,
        list_members=frozenset(members),
    )


def _unique_username(rng: random.Random, domain: str | None, used: set[tuple[str, str | None]]) -> str:
    while True:
        base = rng.choice(texts.USERNAME_WORDS)
        style = rng.random()
        if style < 0.4:
            name = base
        elif style < 0.7:
            name = f"{base}{rng.randrange(1, 99)}"
        elif style < 0.9:
            name = f"{base}_{rng.choice(texts.USERNAME_WORDS)}"
        else:
            name = base.capitalize() + rng.choice(["Dev", "Photo", "Writes", "Cooks"])
        if (name.lower(), domain) not in used:
            used.add((name.lower(), domain))
            return name
