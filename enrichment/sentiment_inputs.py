"""Which post versions need a sentiment result, read from ``marts.post_versions`` in chunks.

A version is a candidate when it has no row yet for the (model, prompt version), when its text changed since
its row was written (``source_fingerprint``: the hash of text, spoiler and language as read from marts), when
its last attempt failed and its retry time has come, or, with ``force``, when it failed at all (with
``only_failed``, only the failed rows: how a second provider's retries are found). Deleted posts
are not read (their text is redacted in marts); their earlier results stay. There is no cap on how many
versions one run reads: every candidate is processed, newest first, ``chunk_size`` at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import psycopg2.extensions

FINGERPRINT_SQL = (
    "md5(concat_ws(chr(31), coalesce(v.content_text, ''), coalesce(v.spoiler_text, ''), "
    "coalesce(v.language, '')))"
)

CANDIDATES_SQL = f"""
select
    v.instance_id,
    v.post_id,
    v.version_seq,
    v.content_text,
    v.spoiler_text,
    v.language,
    coalesce(p.is_reblog, false) as is_reblog,
    {FINGERPRINT_SQL} as fingerprint
from marts.post_versions as v
left join marts.posts as p
    on p.instance_id = v.instance_id and p.post_id = v.post_id
left join enrichment.post_sentiments as s
    on
        s.instance_id = v.instance_id
        and s.post_id = v.post_id
        and s.status_version_seq = v.version_seq
        and s.model = %(model)s
        and s.prompt_version = %(prompt_version)s
where
    not v.is_post_deleted
    and (
        s.post_id is null
        or s.source_fingerprint <> {FINGERPRINT_SQL}
        or (s.status = 'failed' and (s.next_retry_at <= %(now)s or %(force)s))
    )
    and (not %(only_failed)s or s.status = 'failed')
order by v.valid_from desc, v.instance_id, v.post_id, v.version_seq
"""


@dataclass(frozen=True)
class Candidate:
    """A post version to (re)analyse, with what is already stored for it under the same model and prompt."""

    instance_id: str
    post_id: str
    version_seq: int
    content_text: str | None
    spoiler_text: str | None
    language: str | None
    is_reblog: bool
    fingerprint: str

    @property
    def text(self) -> str:
        """The text scored: the content warning (when there is one) and the content, a blank line apart."""
        parts = [part.strip() for part in (self.spoiler_text, self.content_text) if part and part.strip()]
        return "\n\n".join(parts)


def iter_candidates(conn: psycopg2.extensions.connection, *, model: str, prompt_version: str, now: datetime,
                    force: bool, chunk_size: int, only_failed: bool = False) -> Iterator[list[Candidate]]:
    """Yield the candidates in chunks, read through a server-side cursor (one snapshot, constant memory).

    ``conn`` must be used for reading only while the iterator is alive: results are written through another
    connection, and the snapshot makes sure a version written meanwhile is not read twice.
    """
    params = {"model": model, "prompt_version": prompt_version, "now": now, "force": force,
              "only_failed": only_failed}
    with conn.cursor(name="enrichment_sentiment_candidates") as cur:
        cur.itersize = chunk_size
        cur.execute(CANDIDATES_SQL, params)
        while True:
            rows = cur.fetchmany(chunk_size)
            if not rows:
                break
            yield [Candidate(*row) for row in rows]
    conn.commit()
