"""A simulated Mastodon 4.x instance for the demo and the test-suite.

It serves the REST endpoints the extractor uses and SSE streaming on a local port, generates
realistic, seed-deterministic public activity (new posts, edits, deletes, late-federated remote
posts with back-dated ids), injects faults on demand, and keeps an exact ground truth of what it
did, to compare the warehouse against.

    from extract.simulator import SimulatedInstance, SimulatorConfig

    with SimulatedInstance(SimulatorConfig(seed=1, events_per_second=0)) as sim:
        sim.emit(50)
        truth = sim.ground_truth()

Modules: ``config`` (settings), ``accounts`` (who posts), ``content`` (what happens),
``records``/``entities`` (statuses and their API rendering), ``state`` (store, ground truth),
``streaming`` (SSE fan-out), ``rest`` (REST endpoints), ``ratelimit``, ``faults``, ``admin``
(``/_sim`` control endpoints), ``server`` (HTTP), ``instance`` (the whole), ``__main__`` (CLI).
"""

from .config import SimulatorConfig
from .faults import MALFORMED_KINDS, Faults
from .instance import SimulatedInstance, serve_forever
from .state import Event, GroundTruth, StatusTruth

__all__ = [
    "MALFORMED_KINDS",
    "Event",
    "Faults",
    "GroundTruth",
    "SimulatedInstance",
    "SimulatorConfig",
    "StatusTruth",
    "serve_forever",
]
