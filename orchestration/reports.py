"""Short text reports on the marts, for the demo and the command line."""

from __future__ import annotations

from typing import Any

# method -> (rank column, score column) of marts.trending_hashtags
TRENDING_METHODS: dict[str, tuple[str, str]] = {
    "spike": ("spike_rank", "spike_score"),
    "growth": ("growth_rank", "growth_score"),
    "mastodon": ("mastodon_rank", "mastodon_decayed_score"),
    "poisson": ("poisson_rank", "poisson_score"),
}


def trending_report(conn: Any, *, top: int = 5) -> list[str]:
    """The top trending hashtags of the latest evaluated hour, one line per scope (each instance, then
    ``fediverse``) and method: ``<scope> <method>: #tag (score), ...`` or ``... nothing trending``.

    ``conn`` is an open DB-API connection to the warehouse; nothing is written."""
    with conn.cursor() as cur:
        cur.execute("select to_regclass('marts.trending_hashtags') is not null")
        if not cur.fetchone()[0]:
            return ["trending: marts.trending_hashtags is not built yet (run forkalytics run)"]
        cur.execute("select distinct instance_id, instance_id = 'fediverse' from marts.trending_hashtags "
                    "where is_latest order by 2, 1")
        scopes = [row[0] for row in cur.fetchall()]
        if not scopes:
            return ["trending: no hashtags used yet"]
        lines = []
        for scope in scopes:
            for method, (rank, score) in TRENDING_METHODS.items():
                cur.execute(f"select hashtag_name, {score} from marts.trending_hashtags "  # noqa: S608 - fixed names
                            f"where is_latest and instance_id = %s and {rank} is not null "
                            f"order by {rank}, hashtag_name limit %s", (scope, top))
                tags = [f"#{name} ({value:.1f})" for name, value in cur.fetchall()]
                lines.append(f"{scope} {method}: {', '.join(tags) if tags else 'nothing trending'}")
    conn.rollback()
    return lines
