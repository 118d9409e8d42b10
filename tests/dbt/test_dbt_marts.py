"""dbt end to end on a real PostgreSQL: raw events (tests/dbt/dbt_scenario.py) → dbt build → marts.

One module-scoped warehouse runs the scenario once: build after load 1, incremental build after load 2,
then a --full-refresh build; every test below asserts on those results (each dbt build costs seconds).
Tests named after a defect of the previous system (design/prior-system.md) say so in their name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from dbt_payloads import RawEvents, prepare_sources, ts
from dbt_scenario import EDIT_TEXTS, HELLO_TEXT, LINK_URL, MS, SIM, load_first, load_second
from marts_snapshot import CORE_SELECTION, snapshot_marts

from enrichment.runner import run_enrichment
from enrichment.settings import EnrichmentSettings
from orchestration.cycle import cycle_build_args
from orchestration.dbt_runner import DbtResult, mart_row_counts, run_dbt
from tests.helpers import scratch_warehouse

# The dbt core models: staging of raw, intermediate, the top-level marts (subfolders of marts/ belong to other
# parts of the project, which test them).
CORE_PATHS = ("dbt_project/models/staging/mastodon/", "dbt_project/models/intermediate/")


def is_core(node: dict[str, Any]) -> bool:
    path = node["original_file_path"]
    return path.startswith(CORE_PATHS) or (path.startswith("dbt_project/models/marts/") and path.count("/") == 3)


@dataclass
class Scenario:
    dsn: str
    state_dir: Path
    first: DbtResult
    incremental: DbtResult
    full_refresh: DbtResult
    after_first: dict[str, list[tuple]]
    after_incremental: dict[str, list[tuple]]
    after_full_refresh: dict[str, list[tuple]]
    versions_after_first: dict[str, int]

    def query(self, statement: str, params: tuple = ()) -> list[dict[str, Any]]:
        names, rows = self._run(statement, params)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def one(self, statement: str, params: tuple = ()) -> dict[str, Any]:
        rows = self.query(statement, params)
        assert len(rows) == 1, rows
        return rows[0]

    def execute(self, statement: str) -> list[tuple]:
        """Run one statement and commit it; its rows, if it returns any."""
        return self._run(statement)[1]

    def _run(self, statement: str, params: tuple = ()) -> tuple[list[str], list[tuple]]:
        """One statement in a transaction of its own (committed): its column names and rows (none without)."""
        conn = psycopg2.connect(self.dsn)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(statement, params)
                if cur.description is None:
                    return [], []
                return [d[0] for d in cur.description], cur.fetchall()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def scenario(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """A warehouse of this module's own with the scenario loaded in two loads and built three times."""
    state_dir: Path = tmp_path_factory.mktemp("dbt_state")
    with scratch_warehouse(pg_server, "dbt_marts", state_dir / "unused") as warehouse:
        dsn = warehouse.dsn
        raw = RawEvents()
        conn = psycopg2.connect(dsn)
        prepare_sources(conn)
        load_first(conn, raw)
        first = run_dbt(["build", *CORE_SELECTION], dsn, state_dir=state_dir, quiet=True)
        assert first.success, first.summary + "\n" + first.output_tail
        after_first = snapshot_marts(dsn)
        with conn.cursor() as cur:
            cur.execute("select post_id, count(*) from marts.post_versions group by post_id")
            versions_after_first = {post_id: count for post_id, count in cur.fetchall()}
        conn.commit()
        load_second(conn, raw)
        conn.close()
        # as a scheduled cycle runs it: its data tests read the rows this run wrote
        incremental = run_dbt(["build", *CORE_SELECTION, *cycle_build_args()], dsn, state_dir=state_dir, quiet=True)
        assert incremental.success, incremental.summary + "\n" + incremental.output_tail
        after_incremental = snapshot_marts(dsn)
        full_refresh = run_dbt(["build", *CORE_SELECTION, "--full-refresh"], dsn, state_dir=state_dir, quiet=True)
        assert full_refresh.success, full_refresh.summary + "\n" + full_refresh.output_tail
        yield Scenario(dsn, state_dir, first, incremental, full_refresh, after_first, after_incremental,
                       snapshot_marts(dsn), versions_after_first)


# -- the builds -----------------------------------------------------------------------------------------

def test_builds_pass_every_data_test_and_unit_test(scenario: Scenario) -> None:
    for result in (scenario.first, scenario.incremental, scenario.full_refresh):
        assert result.success and result.returncode == 0
        assert result.counts.get("error", 0) == 0 and result.failures == []
        assert result.counts.get("pass", 0) > 100  # models, data tests and unit tests
        assert result.counts.get("skip", 0) == 0


def test_incremental_run_equals_full_refresh(scenario: Scenario) -> None:
    assert scenario.after_incremental.keys() == scenario.after_full_refresh.keys()
    for table, rows in scenario.after_incremental.items():
        assert rows == scenario.after_full_refresh[table], f"{table} differs after --full-refresh"


def test_every_mart_is_populated(scenario: Scenario) -> None:
    conn = psycopg2.connect(scenario.dsn)
    try:
        counts = mart_row_counts(conn)
    finally:
        conn.close()
    core = {"instances", "accounts", "account_history", "posts", "post_versions", "hashtags", "post_hashtags",
            "post_mentions", "media_attachments", "conversation_threads", "stream_events", "fediverse_posts"}
    assert core <= set(counts)  # later marts (enrichment, trending) live in the same schema
    assert all(counts[table] > 0 for table in core), counts


# -- defects of the previous system ---------------------------------------------------------------------

def test_html_join_bug_words_and_paragraphs_stay_separated(scenario: Scenario) -> None:
    post = scenario.one("select content_text from marts.posts where instance_id = %s and post_id = '110'", (MS,))
    assert post["content_text"] == HELLO_TEXT
    assert "Hello@bob" not in post["content_text"] and "day!Second" not in post["content_text"]


def test_html_links_read_as_displayed_and_entities_decoded(scenario: Scenario) -> None:
    post = scenario.one("select content_text, spoiler_text, sensitive, has_media from marts.posts "
                        "where post_id = '190'")
    shown = LINK_URL.split("://", 1)[1][:30]
    assert post["content_text"] == f"Read {shown}…\nnow <3 \u2014 \"ok\" 'fine' \U0001F600"
    assert post["spoiler_text"] == "cw: food" and post["sensitive"] is True and post["has_media"] is True


def test_mention_of_unknown_account_is_kept(scenario: Scenario) -> None:
    post = scenario.one("select post_id, deleted_at from marts.posts where post_id = '160'")
    assert post["deleted_at"] is None
    mention = scenario.one("select * from marts.post_mentions where post_id = '160'")
    assert (mention["mentioned_account_id"], mention["acct"], mention["username"]) == \
        ("2003", "carol@far.example", "carol")
    assert mention["is_local_account"] is False
    account = scenario.one("select * from marts.accounts where account_id = '2003' and instance_id = %s", (MS,))
    assert account["is_profile_observed"] is False and account["domain"] == "far.example"
    assert account["is_local"] is False and account["observed_post_count"] == 0


def test_edits_keep_version_1_with_the_original_text(scenario: Scenario) -> None:
    versions = scenario.query("select * from marts.post_versions where instance_id = %s and post_id = '120' "
                              "order by version_seq", (MS,))
    assert [v["content_text"] for v in versions] == EDIT_TEXTS
    assert [v["version_seq"] for v in versions] == [1, 2, 3, 4]
    assert versions[0]["is_original"] and versions[0]["edited_at"] is None
    assert versions[0]["valid_from"] == ts(2)  # the original starts at created_at
    assert [v["valid_from"] for v in versions[1:]] == [ts(3), ts(20), ts(21)]  # edits at edited_at
    assert [v["valid_to"] for v in versions] == [ts(3), ts(20), ts(21), None]
    assert [v["is_current"] for v in versions] == [False, False, False, True]
    # the back-filled copy of the last edit is the same version, observed twice
    assert versions[-1]["observation_count"] == 2
    post = scenario.one("select * from marts.posts where post_id = '120'")
    assert post["version_count"] == 4 and post["content_text"] == EDIT_TEXTS[-1] and post["edited_at"] == ts(21)


def test_several_edits_between_two_runs_are_all_versions(scenario: Scenario) -> None:
    assert scenario.versions_after_first["120"] == 2
    rows = scenario.query("select count(*) as n from marts.post_versions where post_id = '120'")
    assert rows[0]["n"] == 4


def test_naive_timestamps_never_reach_the_warehouse_models(scenario: Scenario) -> None:
    naive = scenario.query("""
        select table_schema, table_name, column_name from information_schema.columns
        where table_schema in ('staging', 'intermediate', 'marts')
          and data_type = 'timestamp without time zone'""")
    assert naive == []
    post = scenario.one("select created_at from marts.posts where post_id = '110' and instance_id = %s", (MS,))
    assert post["created_at"].utcoffset() is not None and post["created_at"] == ts(1)


# -- deletes ---------------------------------------------------------------------------------------------

def test_delete_before_create_keeps_the_post_deleted_and_redacted(scenario: Scenario) -> None:
    post = scenario.one("select * from marts.posts where post_id = '130'")
    assert post["deleted_at"] == ts(4) and post["is_deleted"] and post["deletion_reason"] == "deleted"
    assert post["content_text"] is None and post["content_html"] is None and post["is_redacted"]
    assert post["account_acct"] == "bob@remote.example"  # the row and its keys stay
    version = scenario.one("select * from marts.post_versions where post_id = '130'")
    assert version["valid_to"] == ts(4) and version["content_text"] is None and version["is_redacted"]


def test_edit_after_delete_does_not_resurrect(scenario: Scenario) -> None:
    post = scenario.one("select * from marts.posts where post_id = '140'")
    assert post["deleted_at"] == ts(6) and post["content_text"] is None and post["version_count"] == 2
    versions = scenario.query("select * from marts.post_versions where post_id = '140' order by version_seq")
    assert [v["valid_to"] for v in versions] == [ts(5.5), ts(6)]
    assert all(v["content_text"] is None and v["content_html"] is None for v in versions)
    media = scenario.one("select * from marts.media_attachments where post_id = '140'")
    assert media["description"] is None and media["url"] is None and media["media_type"] == "image"
    late_edit = scenario.one("select * from marts.stream_events where status_id = '140' "
                             "and event_type = 'status.update'")
    assert late_edit["process_outcome"] == "applied_after_delete"
    assert late_edit["payload"] is None and late_edit["is_redacted"]
    assert "Secret" not in repr(scenario.query("select * from marts.stream_events where status_id = '140'"))


def test_deleted_posts_keep_no_text_in_the_tables_of_events(scenario: Scenario) -> None:
    """The privacy hooks blank a deleted post's text where events are kept: in the rows the first (full) build
    wrote (posts 130 and 140, both deleted in load 1, whose raw text this scenario stores unredacted) and in
    the rows a later run wrote (140's edit after its delete, load 2)."""
    tables = {
        "intermediate.int_stream_events__deduped": "event_type, payload, content_html, spoiler_text",
        "intermediate.int_status_observations": "event_id, content_html, content_text, spoiler_text",
    }
    for table, columns in tables.items():
        rows = scenario.query(f"select {columns} from {table} where status_id in ('130', '140')")
        assert len(rows) >= 3, (table, rows)
        assert "Secret" not in repr(rows) and "Federated late" not in repr(rows), (table, rows)
    events = scenario.query("select payload from intermediate.int_stream_events__deduped "
                            "where status_id in ('130', '140') and event_type <> 'delete'")
    assert len(events) == 3
    assert all(event["payload"]["forkalytics_redaction"] == "post deleted" for event in events), events


def test_delete_of_a_post_never_seen_is_explained(scenario: Scenario) -> None:
    assert scenario.query("select * from marts.posts where post_id = '150'") == []
    event = scenario.one("select * from marts.stream_events where status_id = '150'")
    assert event["event_type"] == "delete" and event["process_outcome"] == "post_not_seen"


def test_deleted_posts_are_not_counted_where_counts_exclude_them(scenario: Scenario) -> None:
    secret = scenario.one("select * from marts.hashtags where name = 'secret'")
    assert secret["post_count"] == 0  # the only post using it is deleted
    assert scenario.query("select * from marts.post_hashtags where post_id = '140'") != []  # rows kept


# -- duplicates and bad payloads ------------------------------------------------------------------------

def test_duplicate_deliveries_are_dropped(scenario: Scenario) -> None:
    events = scenario.query("select * from marts.stream_events where status_id = '110' and instance_id = %s "
                            "and event_type = 'update' order by received_at", (MS,))
    assert [(e["source"], e["received_at"]) for e in events] == [("stream", ts(1.1)), ("backfill", ts(5))]
    assert events[0]["last_received_at"] == ts(25)  # delivered again in load 2
    assert scenario.one("select version_count from marts.posts where post_id = '110' and instance_id = %s",
                        (MS,))["version_count"] == 1


def test_bad_payloads_are_flagged_never_fatal(scenario: Scenario) -> None:
    rejected = scenario.query("select event_type, status_id, payload_status_id, process_error "
                              "from marts.stream_events where process_outcome = 'rejected' order by received_at")
    errors = [r["process_error"] for r in rejected]
    assert len(rejected) == 5, rejected
    assert errors[0].startswith("payload could not be stored as sent: invalid JSON")
    assert rejected[0]["payload_status_id"] == "666"  # still findable: "why is post 666 missing?"
    assert errors[1] == "payload is not a status object (JSON array)"
    assert errors[2] == "payload has no status id"
    assert errors[3].startswith("missing or invalid created_at: 2026-02-31T25:00:00Z")
    assert errors[4] == "unknown event type: conversation"
    assert scenario.query("select * from marts.posts where post_id in ('666', '667')") == []
    poll = scenario.one("select process_outcome, process_error from marts.stream_events "
                        "where event_type = 'poll' and received_at = %s", (ts(11.5),))
    assert poll == {"process_outcome": "applied", "process_error": "invalid favourites_count ignored"}


# -- the other marts --------------------------------------------------------------------------------------

def test_counts_and_engagement_score_come_from_the_newest_valid_observation(scenario: Scenario) -> None:
    post = scenario.one("select * from marts.posts where post_id = '110' and instance_id = %s", (MS,))
    assert (post["replies_count"], post["reblogs_count"], post["favourites_count"]) == (4, 10, 20)
    assert post["engagement_score"] == 3 * 10 + 2 * 20 + 1 * 4
    assert post["metrics_observed_at"] == ts(24)
    assert post["hashtags"] == ["python"]
    assert post["mentions"] == [{"id": "1002", "username": "bob", "acct": "bob@remote.example",
                                 "url": "https://remote.example/@bob"}]


def test_hashtags_are_normalized_per_instance(scenario: Scenario) -> None:
    tags = scenario.query("select instance_id, name, post_count from marts.hashtags order by 1, 2")
    assert tags == [{"instance_id": SIM, "name": "python", "post_count": 1},
                    {"instance_id": MS, "name": "coffee", "post_count": 0},  # 330's edit dropped it (load 2)
                    {"instance_id": MS, "name": "python", "post_count": 1},
                    {"instance_id": MS, "name": "secret", "post_count": 0},
                    {"instance_id": MS, "name": "tea", "post_count": 1}]  # 320 deleted (load 2), 330 kept it
    assert scenario.query("select hashtag_name from marts.post_hashtags where post_id = '330'") == \
        [{"hashtag_name": "tea"}]
    bridge = scenario.one("select * from marts.post_hashtags where post_id = '110' and instance_id = %s", (MS,))
    assert bridge["hashtag_name"] == "python" and bridge["position"] == 1


def test_accounts_and_profile_history(scenario: Scenario) -> None:
    alice = scenario.one("select * from marts.accounts where account_id = '1001' and instance_id = %s", (MS,))
    assert alice["display_name"] == "Alice 🌻" and alice["is_local"] and alice["domain"] == MS
    assert alice["followers_count"] == 11 and alice["note_text"] == "hi"
    history = scenario.query("select display_name, valid_from, valid_to, is_current from marts.account_history "
                             "where account_id = '1001' and instance_id = %s order by version_seq", (MS,))
    assert [h["display_name"] for h in history] == ["Alice", "Alice 🌻"]
    assert history[0]["valid_to"] == history[1]["valid_from"] == ts(24)
    dave = scenario.one("select * from marts.accounts where account_id = '1004'")
    assert dave["is_bot"] is True
    # erin's only post was deleted in load 2: still an author, but her profile history is deleted content
    erin = scenario.one("select * from marts.accounts where account_id = '1005'")
    assert erin["observed_post_count"] == 1
    assert scenario.query("select * from marts.account_history where account_id = '1005'") == []
    # carol, only ever mentioned, was mentioned again by an edit in load 2
    carol = scenario.one("select * from marts.accounts where account_id = '2003'")
    assert carol["last_seen_at"] == ts(25.5) and carol["first_seen_at"] == ts(7.1)


def test_conversation_threads(scenario: Scenario) -> None:
    threads = scenario.query("select root_post_id, root_is_observed, depth, reply_count, participant_count "
                             "from marts.conversation_threads order by root_post_id")
    assert threads == [
        # 110 <- 170 <- 171 <- 172 (172 arrived late, in load 2)
        {"root_post_id": "110", "root_is_observed": True, "depth": 3, "reply_count": 3, "participant_count": 2},
        # 310 replied to 309, unseen in load 1 (a thread rooted at 309); 309 arrived in load 2 as a reply to
        # 308, never seen: the thread rooted at 309 is gone, 308's holds both
        {"root_post_id": "308", "root_is_observed": False, "depth": 2, "reply_count": 2, "participant_count": 2},
        # 180 replies to 999, never observed
        {"root_post_id": "999", "root_is_observed": False, "depth": 1, "reply_count": 1, "participant_count": 1},
    ]
    assert any(row[1] == "'309'" for row in scenario.after_first["conversation_threads"])


def test_fediverse_posts_count_one_post_seen_on_two_instances_once(scenario: Scenario) -> None:
    post = scenario.one("select * from marts.fediverse_posts where uri like %s",
                        ("https://mastodon.social/users/alice/statuses/110",))
    assert post["instance_count"] == 2 and post["instance_ids"] == sorted([MS, SIM])
    assert post["origin_instance_id"] == MS and post["account_acct"] == f"alice@{MS}"
    assert post["favourites_count"] == 20  # the origin's count, not the remote copy's stale 1
    total = scenario.one("select count(*) as n from marts.fediverse_posts")["n"]
    posts = scenario.one("select count(*) as n from marts.posts")["n"]
    assert total == posts - 1


def test_instances_dimension(scenario: Scenario) -> None:
    rows = scenario.query("select * from marts.instances order by instance_id")
    assert [r["instance_id"] for r in rows] == [SIM, MS]
    social = rows[1]
    assert social["base_url"] == "https://mastodon.social" and social["api_version"] == "v2"
    assert social["stream_types"] == "hashtag:python,public:local"
    assert social["created_at"] == ts(0) and social["last_seen_at"] == ts(26)


# -- analyses -------------------------------------------------------------------------------------------

def test_seed_example_queries_compile_and_run(scenario: Scenario) -> None:
    # the analyses read the engagement, trending and sentiment marts the core selection does not build; the
    # sentiment marts need the offline sentiment of every version first
    sentiment = run_enrichment(scenario.dsn, EnrichmentSettings(), say=lambda line: None, tasks=["sentiment"])
    assert sentiment.failures == 0 and sentiment.sentiment.scored > 0
    parents = run_dbt(["run", "--select", "post_metric_snapshots", "hashtag_uses", "hashtag_hourly_stats",
                       "stg_enrichment__post_sentiments", "post_sentiments", "post_sentiment_changes"],
                      scenario.dsn, state_dir=scenario.state_dir / "analyses", quiet=True)
    assert parents.success, parents.output_tail
    result = run_dbt(["compile", "--select", "resource_type:analysis"], scenario.dsn,
                     state_dir=scenario.state_dir / "analyses", quiet=True,
                     vars={"velocity_min_favourites_gained": 10, "analysis_as_of": "2026-11-20 12:30:00+00"})
    assert result.success, result.output_tail
    compiled = scenario.state_dir / "analyses" / "dbt" / "target" / "compiled" / "forkalytics" / "dbt_project"
    outputs = {}
    for name in ("engagement_velocity", "trending_hashtags", "edit_analysis"):
        sql_text = (compiled / "analyses" / f"{name}.sql").read_text()
        assert not re.search(r"{{|{%", sql_text)
        outputs[name] = scenario.query(sql_text)
    assert [(r["post_id"], r["favourites_gained"]) for r in outputs["engagement_velocity"]] == [("110", 20)]
    assert {(r["instance_id"], r["name"]) for r in outputs["trending_hashtags"]} == \
        {(MS, "python"), (SIM, "python"), (MS, "tea")}
    # edit analysis: 120's first edit turned it from positive to neutral; its later edits (neutral to neutral),
    # 125's edit (positive to positive) and 330's (its tag dropped) were compared too, and changed no label
    compared = scenario.query("select post_id, status_version_seq, is_label_changed "
                              "from marts.post_sentiment_changes order by post_id, status_version_seq")
    assert [tuple(r.values()) for r in compared] == [("120", 2, True), ("120", 3, False), ("120", 4, False),
                                                      ("125", 2, False), ("330", 2, False)]
    changed = outputs["edit_analysis"]
    assert [(r["instance_id"], r["post_id"], r["version_seq"], r["edited_at"], r["previous_label"],
             r["sentiment_label"]) for r in changed] == [(MS, "120", 2, ts(3), "positive", "neutral")]
    assert changed[0]["previous_score"] > 0.05 and changed[0]["sentiment_score"] == 0
    assert changed[0]["score_change"] == changed[0]["sentiment_score"] - changed[0]["previous_score"]
    assert not changed[0]["is_current_version"] and not changed[0]["is_post_deleted"]


# -- documentation ----------------------------------------------------------------------------------------

def test_documented_columns_are_the_built_columns(scenario: Scenario) -> None:
    manifest = json.loads((scenario.state_dir / "dbt" / "target" / "manifest.json").read_text())
    core = [n for n in manifest["nodes"].values() if n["resource_type"] == "model" and is_core(n)]
    assert len(core) >= 15
    differences = {}
    for node in core:
        built = scenario.query("select column_name from information_schema.columns "
                               "where table_schema = %s and table_name = %s order by ordinal_position",
                               (node["schema"], node["alias"]))
        assert built, node["name"]
        built_columns, documented = {c["column_name"] for c in built}, set(node["columns"])
        if built_columns != documented:
            differences[node["name"]] = {"undocumented": sorted(built_columns - documented),
                                         "not built": sorted(documented - built_columns)}
    assert differences == {}


# -- the cycle's data tests read what the run wrote --------------------------------------------------------

def test_a_cycle_tests_the_raw_loads_it_merges_and_a_plain_test_every_raw_row(scenario: Scenario) -> None:
    """The raw log and its staging view have no refreshed_at: a cycle's row-level tests of them read the dlt
    loads newer than the newest one the deduplicated events merged (the loads the cycle is about to merge).
    A bad row in a load already merged is left to whole-table runs; one in a new load fails the cycle."""
    raw_tests = ["--select", "source:mastodon_raw.stream_events", "stg_mastodon__stream_events",
                 "stg_mastodon__stream_event_keys"]
    conn = psycopg2.connect(scenario.dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("select column_name from information_schema.columns "
                        "where table_schema = 'raw' and table_name = 'stream_events' order by ordinal_position")
            columns = [row[0] for row in cur.fetchall()]
            changed = {"event_id": "'bad-source-row'", "source": "'bogus'"}
            cur.execute(
                f"insert into raw.stream_events ({', '.join(columns)}) "
                f"select {', '.join(changed.get(c, c) for c in columns)} from raw.stream_events "
                "order by _dlt_load_id limit 1")  # the row sits in the oldest load, merged long ago
        cycle = run_dbt(["test", *raw_tests, *cycle_build_args()], scenario.dsn,
                        state_dir=scenario.state_dir, quiet=True)
        assert cycle.success, cycle.output_tail
        assert cycle.counts.get("pass", 0) >= 8  # the row-level tests ran, over the unmerged loads (none)
        whole = run_dbt(["test", *raw_tests], scenario.dsn, state_dir=scenario.state_dir, quiet=True)
        assert not whole.success
        assert any("accepted_values" in failure for failure in whole.failures), whole.failures

        with conn, conn.cursor() as cur:
            # the same row in a load newer than every merged one: the next cycle merges it, so tests it
            cur.execute("update raw.stream_events set _dlt_load_id = '9999999999.000001' "
                        "where event_id = 'bad-source-row'")
        cycle = run_dbt(["test", *raw_tests, *cycle_build_args()], scenario.dsn,
                        state_dir=scenario.state_dir, quiet=True)
        assert not cycle.success
        assert any("source_accepted_values_mastodon_raw_stream_events_source" in failure
                   for failure in cycle.failures), cycle.failures
    finally:
        with conn, conn.cursor() as cur:
            cur.execute("delete from raw.stream_events where event_id = 'bad-source-row'")
        conn.close()


def test_a_cycle_tests_the_rows_it_wrote_and_a_plain_test_run_every_row(scenario: Scenario) -> None:
    """A bad value in a row an incremental run rewrites fails the cycle's tests; one in a row it did not
    write is left to whole-table test runs (`dbt test`, the scheduler's daily run), which fail on it.
    Runs last: it corrupts rows and puts them back."""
    stream_events = ["--select", "stream_events"]
    old, rewritten = (r["event_id"] for r in scenario.query(
        "select event_id from marts.stream_events where source = 'stream' order by event_id limit 2"))
    conn = psycopg2.connect(scenario.dsn)
    try:
        with conn, conn.cursor() as cur:
            # an old mart row goes bad; nothing upstream changes
            cur.execute("update marts.stream_events set source = 'bogus' where event_id = %s", (old,))
        cycle = run_dbt(["build", *stream_events, *cycle_build_args()], scenario.dsn,
                        state_dir=scenario.state_dir, quiet=True)
        assert cycle.success, cycle.output_tail
        assert cycle.counts.get("pass", 0) >= 4  # the model's tests ran (over no rewritten row)
        whole = run_dbt(["test", *stream_events], scenario.dsn, state_dir=scenario.state_dir, quiet=True)
        assert not whole.success
        assert any("accepted_values_stream_events_source" in failure for failure in whole.failures), whole.failures

        with conn, conn.cursor() as cur:
            # an upstream event changes, so the incremental run rewrites its mart row, with the bad value
            cur.execute("update marts.stream_events set source = 'stream' where event_id = %s", (old,))
            cur.execute("update intermediate.int_stream_events__deduped set event_source = 'bogus', "
                        "refreshed_at = clock_timestamp() where event_id = %s", (rewritten,))
        cycle = run_dbt(["build", *stream_events, *cycle_build_args()], scenario.dsn,
                        state_dir=scenario.state_dir, quiet=True)
        assert not cycle.success
        assert any("accepted_values_stream_events_source" in failure for failure in cycle.failures), cycle.failures
    finally:
        with conn, conn.cursor() as cur:
            cur.execute("update marts.stream_events set source = 'stream' where event_id = %s", (old,))
            cur.execute("update intermediate.int_stream_events__deduped set event_source = 'stream', "
                        "refreshed_at = clock_timestamp() where event_id = %s", (rewritten,))
        conn.close()
    repaired = run_dbt(["build", *stream_events], scenario.dsn, state_dir=scenario.state_dir, quiet=True)
    assert repaired.success, repaired.output_tail


def test_tables_store_rows_up_to_a_page_uncompressed_and_older_tables_get_the_setting(scenario: Scenario) -> None:
    """Every table dbt builds has toast_tuple_target = var table_toast_tuple_target (8160): a row up to a page
    is stored as it is, so the events' ~2.3 KB payloads are not compressed on every write and decompressed on
    every read. A table built before the setting (the deduplicated events are never rebuilt) gets it on its
    next run, and a null var takes it away again."""
    query = """
        select namespace.nspname || '.' || class.relname, coalesce(class.reloptions, '{}')
        from pg_class as class
        inner join pg_namespace as namespace on namespace.oid = class.relnamespace
        where namespace.nspname in ('intermediate', 'marts') and class.relkind = 'r'
    """
    table = "intermediate.int_stream_events__deduped"

    def options() -> dict[str, list[str]]:
        return {name: list(reloptions) for name, reloptions in scenario.execute(query)}

    built = options()
    assert {"intermediate.int_stream_events__deduped", "intermediate.int_status_observations",
            "marts.posts", "marts.stream_events"} <= set(built)
    assert all("toast_tuple_target=8160" in reloptions for reloptions in built.values()), built

    scenario.execute(f"alter table {table} reset (toast_tuple_target)")
    assert "toast_tuple_target=8160" not in options()[table]
    again = run_dbt(["run", "--select", "int_stream_events__deduped"], scenario.dsn, state_dir=scenario.state_dir,
                    quiet=True)
    assert again.success, again.output_tail
    assert "toast_tuple_target=8160" in options()[table]
    default = run_dbt(["run", "--select", "int_stream_events__deduped", "--vars", "{table_toast_tuple_target: null}"],
                      scenario.dsn, state_dir=scenario.state_dir, quiet=True)
    assert default.success, default.output_tail
    assert not any(option.startswith("toast_tuple_target") for option in options()[table])
    restored = run_dbt(["run", "--select", "int_stream_events__deduped"], scenario.dsn, state_dir=scenario.state_dir,
                       quiet=True)
    assert restored.success, restored.output_tail


def test_key_tests_read_the_unique_index_and_without_it_the_table(scenario: Scenario) -> None:
    """A key a valid unique index enforces is tested from the catalog, without reading the table (dbt's
    `unique` and the project's `unique_combination`); with the index gone the test reads the table again and
    finds the duplicate (macros/tests/unique_index.sql)."""
    table = "intermediate.int_status_deletes"
    tests = ("unique_combination_int_status_deletes_instance_id__status_id",
             "unique_int_stream_events__deduped_event_id")

    def run_tests() -> tuple[DbtResult, dict[str, str]]:
        result = run_dbt(["test", "--select", *tests], scenario.dsn, state_dir=scenario.state_dir, quiet=True)
        run_dir = scenario.state_dir / "dbt" / "target" / "run"
        return result, {test: next(run_dir.rglob(f"{test}.sql")).read_text() for test in tests}

    passed, compiled = run_tests()
    assert passed.success, passed.output_tail
    for sql in compiled.values():
        assert "enforces this key" in sql and "group by" not in sql, sql
    [(index, definition)] = scenario.execute(f"""
        select indexrelid::regclass::text, pg_get_indexdef(indexrelid)
        from pg_index where indrelid = '{table}'::regclass and indisunique""")
    scenario.execute(f"drop index {index}")
    try:
        scenario.execute(f"insert into {table} select * from {table} limit 1")
        failed, compiled = run_tests()
        assert not failed.success and "error 1" in failed.summary, failed.summary
        assert "group by" in compiled[tests[0]] and "enforces this key" in compiled[tests[1]]
    finally:
        scenario.execute(f"""
            delete from {table} as later using {table} as earlier
            where later.ctid > earlier.ctid
                and (later.instance_id, later.status_id) = (earlier.instance_id, earlier.status_id)""")
        scenario.execute(definition)
    again, compiled = run_tests()
    assert again.success and "enforces this key" in compiled[tests[0]]


def test_small_incremental_runs_resample_only_the_time_columns(scenario: Scenario) -> None:
    """After an incremental run, a table's statistics are sampled whole only when the run changed at least var
    analyze_changed_fraction of it; a smaller run re-samples only its time columns (valid_from, refreshed_at...:
    every load extends their range)."""
    table = "intermediate.int_post_versions"
    time_column, other_column = "valid_from", "content_html"

    def sampled() -> set[str]:
        return {name for (name,) in scenario.execute(f"""
            select attname from pg_stats
            where schemaname || '.' || tablename = '{table}' and attname in ('{time_column}', '{other_column}')""")}

    def run(fraction: float) -> None:
        result = run_dbt(["run", "--select", "int_post_versions", "--vars",
                          json.dumps({"analyze_changed_fraction": fraction})],
                         scenario.dsn, state_dir=scenario.state_dir, quiet=True)
        assert result.success, result.output_tail

    def forget_statistics() -> None:
        scenario.execute(f"""
            delete from pg_statistic
            where starelid = '{table}'::regclass and staattnum in (
                select attnum from pg_attribute
                where attrelid = '{table}'::regclass and attname in ('{time_column}', '{other_column}'))""")
        assert sampled() == set()

    # autovacuum would analyse the table on its own after the rewrite below, restoring what the test removes
    scenario.execute(f"alter table {table} set (autovacuum_enabled = false)")
    try:
        forget_statistics()
        run(0.0)  # every run changes at least none of the table: a whole ANALYZE
        assert sampled() == {time_column, other_column}
        forget_statistics()
        run(0.5)  # nothing to recompute: the time columns only
        assert sampled() == {time_column}
        # every post's events refreshed (as a run of the deduplicated events rewriting them would): the next run
        # recomputes every post, deleting and inserting each of its versions, more than half of the table
        scenario.execute("update intermediate.int_stream_events__deduped set refreshed_at = now()")
        run(0.5)
        assert sampled() == {time_column, other_column}
        # that run's own changes, which its whole ANALYZE sampled, do not count against the next run
        forget_statistics()
        run(0.5)
        assert sampled() == {time_column}
    finally:
        scenario.execute(f"alter table {table} reset (autovacuum_enabled)")


def test_stale_instances_are_the_ones_the_freshness_test_reports(scenario: Scenario) -> None:
    """recency_by_group (raw's per-instance freshness) walks the instances through raw's index: it reports
    exactly the instances whose newest event is older than the threshold, as a plain group by over every
    row would."""
    conn = psycopg2.connect(scenario.dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("select instance_id, extract(epoch from now() - max(received_at)) / 3600"
                        " from raw.stream_events group by instance_id")
            ages = {instance: float(age) for instance, age in cur.fetchall()}
    finally:
        conn.close()
    assert len(ages) >= 2
    youngest, oldest = min(ages.values()), max(ages.values())
    # whole hours (the var's unit): every instance stale, none, and between the two when their ages allow
    thresholds = sorted({int(youngest) - 1, int(oldest) + 2, int((youngest + oldest) / 2)})
    run_results = scenario.state_dir / "dbt" / "target" / "run_results.json"
    for hours in thresholds:
        result = run_dbt(["test", "--select", "stream_events_recent_per_instance", "--vars",
                          json.dumps({"freshness_error_after_hours": hours})],
                         scenario.dsn, state_dir=scenario.state_dir, quiet=True)
        assert result.returncode == 0, result.output_tail  # severity warn
        (node,) = json.loads(run_results.read_text())["results"]
        stale = {instance for instance, age in ages.items() if age > hours}
        assert node["failures"] == len(stale), (hours, ages, node)
        assert node["status"] == ("warn" if stale else "pass")
