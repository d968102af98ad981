"""``--scheduler`` and ``--workers``: where the commands that fan out (labelling, replicas) run on Dask."""

from __future__ import annotations

import argparse

from .options import positive_int


def add_dask_options(parser: argparse.ArgumentParser, replicas: bool = False) -> None:
    """The Dask options; with ``replicas`` also ``--replicas N`` (N seeds of the same job)."""
    g = parser.add_argument_group("parallel runs on Dask")
    if replicas:
        g.add_argument("--replicas", type=positive_int, default=None, metavar="N",
                       help="run N independent replicas of this job with seeds --seed, --seed+1, ... into "
                            "OUT/replica_000, OUT/replica_001, ... as Dask tasks")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="an existing Dask scheduler (tcp://host:8786); default: an embedded local cluster of "
                        "worker processes")
    g.add_argument("--workers", type=positive_int, default=None, metavar="N",
                   help="worker processes of the local cluster (default: the usable CPUs, at most one per task); "
                        "--threads then applies to each worker (default: the CPUs shared out among them)")
