"""Incremental accounts, account_history and conversation_threads equal a full refresh when a load brings an
earlier delivery of an event already built (it replaces the event's first delivery: the same observation,
observed earlier), new posts and re-observations of known authors, and a new author.

marts.accounts adds the new posts of refreshed observations to the count it keeps only when every refreshed
observation of the account is newer than the account's kept last_seen_at; a replacing delivery is never
later than the delivery it replaces, so it sends its account to a count from all of its observations.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from dbt_payloads import RawEvents, account, prepare_sources, status, ts
from dbt_scenario import ALICE, BOB, DAVE, HELLO_HTML, load_first
from marts_snapshot import snapshot_marts

from orchestration.cycle import cycle_build_args
from orchestration.dbt_runner import run_dbt
from tests.helpers import scratch_warehouse

SELECTION = ["--select", "+accounts", "+account_history", "+conversation_threads", "--indirect-selection",
             "cautious"]
MARTS = {"accounts", "account_history", "conversation_threads"}


@pytest.fixture(scope="module")
def builds(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    state_dir: Path = tmp_path_factory.mktemp("dbt_state")
    with scratch_warehouse(pg_server, "dbt_redelivery", state_dir / "unused") as warehouse:
        dsn = warehouse.dsn
        raw = RawEvents()
        conn = psycopg2.connect(dsn)
        prepare_sources(conn)
        load_first(conn, raw)
        first = run_dbt(["build", *SELECTION], dsn, state_dir=state_dir, quiet=True)
        assert first.success, first.summary + "\n" + first.output_tail
        # dave's newest event of load 1 (330 at 13.1) delivered again, received earlier: it replaces the first
        raw.add("update", status("330", DAVE, "<p>Tea or coffee</p>", created=ts(13), tags=["tea", "coffee"]),
                at=ts(13.05))
        # alice: a new post, a new observation of a post counted already; bob replies to dave's 330
        raw.add("update", status("501", ALICE, "<p>a new post</p>", created=ts(30)), at=ts(30.1))
        raw.add("poll", status("110", ALICE, HELLO_HTML, created=ts(1), counts=(5, 5, 5)), at=ts(30.2),
                source="poll", stream="/api/v1/statuses")
        raw.add("update", status("502", BOB, "<p>re: tea</p>", created=ts(30.3), in_reply_to=("330", "1004"),
                                 home="remote.example"), at=ts(30.4))
        # an author never seen before
        frank = account("1006", "frank", None)
        raw.add("update", status("503", frank, "<p>hello, I am new</p>", created=ts(31)), at=ts(31.1))
        raw.load(conn)
        conn.close()
        incremental = run_dbt(["build", *SELECTION, *cycle_build_args()], dsn, state_dir=state_dir, quiet=True)
        assert incremental.success, incremental.summary + "\n" + incremental.output_tail
        after_incremental = snapshot_marts(dsn, only=MARTS)
        counts_after_incremental = _post_counts(dsn)
        full_refresh = run_dbt(["build", *SELECTION, "--full-refresh"], dsn, state_dir=state_dir, quiet=True)
        assert full_refresh.success, full_refresh.summary + "\n" + full_refresh.output_tail
        yield {"counts_after_incremental": counts_after_incremental, "after_incremental": after_incremental,
               "after_full_refresh": snapshot_marts(dsn, only=MARTS)}


def _post_counts(dsn: str) -> tuple[dict[str, int], dict[str, int]]:
    """observed_post_count of alice, dave and frank, and their posts counted from the observations."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("select account_id, observed_post_count from marts.accounts"
                        " where account_id in ('1001', '1004', '1006')")
            counts = dict(cur.fetchall())
            cur.execute("select account_id, count(distinct status_id) from intermediate.int_status_observations"
                        " where account_id in ('1001', '1004', '1006') group by account_id")
            return counts, dict(cur.fetchall())
    finally:
        conn.close()


def test_incremental_run_equals_full_refresh(builds: dict) -> None:
    assert builds["after_incremental"].keys() == MARTS
    for table in MARTS:
        assert builds["after_incremental"][table] == builds["after_full_refresh"][table], table


def test_post_counts_follow_new_posts_only(builds: dict) -> None:
    # alice: 1 new post (and a new observation of one she had); dave: none (a replaced delivery); frank: new
    counts, posts_observed = builds["counts_after_incremental"]
    assert counts == posts_observed
    assert counts["1006"] == 1
