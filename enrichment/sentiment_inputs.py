"""Which post versions need a sentiment result, read from ``marts.post_versions`` in chunks.

A version is a candidate when it has no row yet for the (model, prompt version), when its text changed since
its row was written (``source_fingerprint``: the hash of text, spoiler and language as read from marts), when
its last attempt failed and its retry time has come, or, with ``force``, when it failed at all. With
``skipped_by`` (the model and prompt version of the primary, English-only provider) only two kinds are read:
failed rows, and versions the primary provider skipped for their language that have no row yet (posts
skipped before ``other_languages: llm`` was configured): how the other-language provider finds its work
after the first pass. Deleted posts
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
    {FINGERPRINT_SQL} as fingerprint,
    s.input_hash as stored_input_hash,
    s.status as stored_status,
    s.attempt_count as stored_attempt_count,
    s.first_attempt_at as stored_first_attempt_at
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
    and (
        not %(retry_pass)s
        or s.status = 'failed'
        or (
            s.post_id is null
            and exists (
                select 1 from enrichment.post_sentiments as primary_result
                where
                    primary_result.instance_id = v.instance_id
                    and primary_result.post_id = v.post_id
                    and primary_result.status_version_seq = v.version_seq
                    and primary_result.model = %(primary_model)s
                    and primary_result.prompt_version = %(primary_prompt_version)s
                    and primary_result.status = 'skipped'
                    and primary_result.skip_reason in ('unsupported_language', 'undetermined_language')
            )
        )
    )
order by v.valid_from desc, v.instance_id, v.post_id, v.version_seq
"""


@dataclass(frozen=True)
class Candidate:
    """A post version to (re)analyse, with what is already stored for it under the same model and prompt
    (``stored_*``: None when nothing is)."""

    instance_id: str
    post_id: str
    version_seq: int
    content_text: str | None
    spoiler_text: str | None
    language: str | None
    is_reblog: bool
    fingerprint: str
    stored_input_hash: str | None = None
    stored_status: str | None = None
    stored_attempt_count: int | None = None
    stored_first_attempt_at: datetime | None = None

    @property
    def text(self) -> str:
        """The text scored: the content warning (when there is one) and the content, a blank line apart."""
        parts = [part.strip() for part in (self.spoiler_text, self.content_text) if part and part.strip()]
        return "\n\n".join(parts)


def iter_candidates(conn: psycopg2.extensions.connection, *, model: str, prompt_version: str, now: datetime,
                    force: bool, chunk_size: int,
                    skipped_by: tuple[str, str] | None = None) -> Iterator[list[Candidate]]:
    """Yield the candidates in chunks, read through a server-side cursor (one snapshot, constant memory).

    ``conn`` must be used for reading only while the iterator is alive: results are written through another
    connection, and the snapshot makes sure a version written meanwhile is not read twice.
    """
    params = {"model": model, "prompt_version": prompt_version, "now": now, "force": force,
              "retry_pass": skipped_by is not None, "primary_model": skipped_by[0] if skipped_by else None,
              "primary_prompt_version": skipped_by[1] if skipped_by else None}
    with conn.cursor(name="enrichment_sentiment_candidates") as cur:
        cur.itersize = chunk_size
        cur.execute(CANDIDATES_SQL, params)
        while True:
            rows = cur.fetchmany(chunk_size)
            if not rows:
                break
            yield [Candidate(*row) for row in rows]
    conn.commit()
