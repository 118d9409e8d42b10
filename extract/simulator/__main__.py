"""``python -m extract.simulator``: run a simulated Mastodon instance in the foreground."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .config import FEED_ACCESS, SCENARIOS, SimulatorConfig
from .instance import serve_forever


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m extract.simulator",
        description="Serve a simulated Mastodon 4.x instance (REST + SSE streaming) until interrupted.",
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options (shared with ``forkalytics simulate``)."""
    defaults = SimulatorConfig()
    parser.add_argument("--host", default=defaults.host, help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8401, help="port to listen on, 0 = any free (default: 8401)")
    parser.add_argument("--domain", default=defaults.domain, help="the instance's domain (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="content seed (default: %(default)s)")
    parser.add_argument("--scenario", choices=SCENARIOS, default=defaults.scenario,
                        help="'spike' plants a #forkaspike burst (default: %(default)s)")
    parser.add_argument("--events-per-second", type=float, default=defaults.events_per_second,
                        help="generator pace, 0 = only on request (default: %(default)s)")
    parser.add_argument("--heartbeat", type=float, default=defaults.heartbeat_interval,
                        help="seconds between ':thump' heartbeats (default: %(default)s)")
    token = parser.add_mutually_exclusive_group()
    token.add_argument("--token", default=defaults.access_token,
                       help="access token streaming requires (default: %(default)s)")
    token.add_argument("--no-token", action="store_true", help="no authentication at all")
    parser.add_argument("--live-feeds", choices=FEED_ACCESS, default=defaults.live_feeds,
                        help="access to public streams and timeline (default: %(default)s)")
    parser.add_argument("--hashtag-feeds", choices=FEED_ACCESS, default=defaults.hashtag_feeds,
                        help="access to hashtag streams and timelines (default: %(default)s)")
    parser.add_argument("--rate-limit", type=int, default=defaults.rate_limit,
                        help="REST requests per window (default: %(default)s)")
    parser.add_argument("--rate-window", type=float, default=defaults.rate_window_seconds,
                        help="rate-limit window in seconds (default: %(default)s)")
    parser.add_argument("--no-batch-statuses", action="store_true",
                        help="behave like Mastodon < 4.3: no GET /api/v1/statuses?id[]=")
    parser.add_argument("--mastodon-version", default=defaults.version,
                        help="version the instance reports (default: %(default)s)")


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    return SimulatorConfig(
        domain=args.domain,
        host=args.host,
        port=args.port,
        seed=args.seed,
        scenario=args.scenario,
        events_per_second=args.events_per_second,
        heartbeat_interval=args.heartbeat,
        access_token=None if args.no_token else args.token,
        live_feeds=args.live_feeds,
        hashtag_feeds=args.hashtag_feeds,
        rate_limit=args.rate_limit,
        rate_window_seconds=args.rate_window,
        batch_statuses_endpoint=not args.no_batch_statuses,
        version=args.mastodon_version,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        serve_forever(config)
    except OSError as exc:
        print(f"Cannot start the simulated instance on {args.host}:{args.port}: {exc.strerror or exc}.",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
