"""Provider state a bit-for-bit restart needs: the neighbor list's build reference.

Force sums run over the neighbor list in its stored order, and that order
depends on the positions the list was built at. A resumed run must therefore
rebuild the list at the *same* reference positions as the uninterrupted run,
or forces differ in the last bit and chaotic trajectories part ways.
"""

from __future__ import annotations

from typing import Any


def provider_state_dict(provider) -> dict[str, Any] | None:
    """State of ``provider`` to store in a checkpoint (None if it has none we know of).

    Uses ``provider.state_dict()`` when the provider has one; otherwise
    ``provider.neighbor_list.state_dict()`` (its build reference).
    """
    if callable(getattr(provider, "state_dict", None)):
        return {"provider": provider.state_dict()}
    nl = getattr(provider, "neighbor_list", None)
    if nl is None:
        return None
    return {"neighbor_list": nl.state_dict()}


def load_provider_state(provider, state: dict[str, Any] | None) -> None:
    """Restore :func:`provider_state_dict` output into a (fresh or used) provider."""
    if not state:
        return
    if "provider" in state:
        provider.load_state_dict(state["provider"])
        return
    provider.neighbor_list.load_state_dict(state["neighbor_list"])
