"""ASE plugin entry point (group ``ase.plugins``): registers :class:`SurrogateCalculator`.

After installation ``ase info --plugins`` lists it under ``surrogate-md``.
"""

from __future__ import annotations

import sys
from functools import cached_property

from ase._4.plugins.plugin import CalculatorPlugin

DISTRIBUTION = "surrogate-md"


class SurrogateCalculatorPlugin(CalculatorPlugin):
    """ASE looks up package metadata by the top-level module name ("surrogate"), but the
    distribution is "surrogate-md"; name it so ``ase info --plugins`` finds version and summary."""

    @cached_property
    def package(self) -> str:
        return DISTRIBUTION


surrogate_calculator = SurrogateCalculatorPlugin(
    name="surrogate",
    citation="V. G. Satorras, E. Hoogeboom, M. Welling, E(n) Equivariant Graph Neural Networks, ICML 2021",
    module=sys.modules[__name__],
    # A string defers importing torch until the calculator is actually used.
    implementation="surrogate.calculator.SurrogateCalculator",
)

__ase_plugins__ = [surrogate_calculator]
