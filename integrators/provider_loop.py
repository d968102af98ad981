"""A batch force provider made of one ordinary provider per replica, evaluated one after the other.

For classical potentials (Lennard-Jones through Numba, ASE calculators) a batch
gains nothing from one call, so :class:`ProviderLoop` simply loops; it lets the
batched driver run, and be tested, without a model. Each replica keeps its own
provider and therefore its own neighbor list, exactly as in an unbatched run.
"""

from __future__ import annotations

from typing import Callable, Sequence

from systems.forces import ForceResult


def stress_flags(stress, n: int) -> list[bool]:
    """One stress flag per system from a single flag or a sequence of ``n`` flags."""
    if isinstance(stress, (bool, int)) or stress is None:
        return [bool(stress)] * n
    flags = [bool(s) for s in stress]
    if len(flags) != n:
        raise ValueError(f"{len(flags)} stress flags for {n} systems")
    return flags


class ProviderLoop:
    """:class:`~integrators.protocols.BatchForceProvider` over per-replica providers.

    Parameters
    ----------
    providers : sequence of ForceProvider, one per replica (replica i uses ``providers[i]``), or
    factory : callable ``factory(i) -> ForceProvider`` that makes replica i's provider on first use.
    """

    def __init__(self, providers: Sequence | None = None, *, factory: Callable[[int], object] | None = None):
        if (providers is None) == (factory is None):
            raise ValueError("ProviderLoop: give `providers` or `factory`")
        self._providers = dict(enumerate(providers)) if providers is not None else {}
        self._factory = factory

    def replica_state(self, replica: int):
        """Replica ``replica``'s own provider (its neighbor list is what a checkpoint stores)."""
        replica = int(replica)
        if replica not in self._providers:
            if self._factory is None:
                raise IndexError(f"ProviderLoop has no provider for replica {replica} "
                                 f"(it has {len(self._providers)})")
            self._providers[replica] = self._factory(replica)
        return self._providers[replica]

    def compute_batch(self, systems, stress=False, *, replicas=None) -> list[ForceResult]:
        """Each system by its replica's provider: energy eV, forces [n_i, 3] eV/Å, stress [3, 3] eV/Å³."""
        replicas = range(len(systems)) if replicas is None else replicas
        flags = stress_flags(stress, len(systems))
        return [self.replica_state(r).compute(s, stress=f) for r, s, f in zip(replicas, systems, flags)]
