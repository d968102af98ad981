"""Reference force providers by name: ``xtb`` (GFN2-xTB), ``gfn1``, ``emt`` and ``ase:module:Class``.

``--reference NAME`` of ``surrogate generate``, ``run`` and ``compare`` turns a
name into an ASE calculator, wrapped as a force provider
(:class:`integrators.AseCalculatorProvider`: energy in eV, forces [n, 3] in
eV/Å, stress [3, 3] in eV/Å³ for periodic systems):

========================  =====================================================================
name                      calculator
========================  =====================================================================
``xtb``, ``gfn2``         GFN2-xTB through ``tblite.ase.TBLite`` (pip package ``tblite``), Z 1–86
``gfn1``                  GFN1-xTB through tblite, Z 1–86
``emt``                   ASE's effective-medium theory (H C N O Al Ni Cu Pd Ag Pt Au; metals)
``ase:module:Class``      any ASE calculator class, e.g. ``ase:ase.calculators.morse:MorsePotential``
========================  =====================================================================

Keyword arguments come from ``--calculator-args`` (a YAML mapping), e.g.
``--reference xtb --calculator-args '{charge: 0, electronic_temperature: 500}'``.

Cost of one xTB call on one thread (tblite 0.8, 2-core machine): periodic
water of 24 atoms (8 molecules, 6.2 Å box) ≈ 3.3 s with GFN2 and ≈ 0.2 s with
GFN1 on a quiet machine (issue #11's figures; measured again beside ~11 other
busy processes: 6.5 s and 0.8 s); a 9-21-atom gas-phase molecule ≈ 1-10 ms
(ethanol: 16 ms on the busy machine). Periodic systems pay for Ewald sums and
the SCF; xTB's cost grows roughly with the cube of the atom count, so a few
hundred periodic frames of GFN2 water take tens of minutes: generate such a
set once and keep it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import numpy as np

from systems.errors import InputError

#: Largest atomic number with GFN1/GFN2-xTB parameters (radon).
XTB_MAX_Z = 86

#: The named references and what each is (``ase:module:Class`` is accepted besides these).
REFERENCES = {
    "xtb": "GFN2-xTB (tblite)",
    "gfn2": "GFN2-xTB (tblite)",
    "gfn1": "GFN1-xTB (tblite)",
    "emt": "ASE effective-medium theory",
}
_XTB_METHODS = {"xtb": "GFN2-xTB", "gfn2": "GFN2-xTB", "gfn1": "GFN1-xTB"}


def reference_names() -> str:
    """The choices of ``--reference`` as one line, for help texts and errors."""
    return ", ".join(REFERENCES) + ", ase:module:Class"


@dataclass
class Reference:
    """A reference calculator made from a name.

    ``calculator`` is the ASE calculator, ``description`` a human-readable
    name (e.g. "GFN2-xTB (tblite)"), ``name`` the name as given.
    """

    name: str
    calculator: object
    description: str

    @property
    def supports_stress(self) -> bool:
        return "stress" in getattr(self.calculator, "implemented_properties", ())

    def provider(self):
        """The calculator as a force provider (:class:`integrators.AseCalculatorProvider`)."""
        from integrators import AseCalculatorProvider

        return AseCalculatorProvider(self.calculator)


def parse_calculator_args(text: str | None, flag: str = "--calculator-args") -> dict:
    """A YAML/JSON mapping of keyword arguments (``None`` or empty: ``{}``); InputError naming ``flag``."""
    import yaml

    if not text:
        return {}
    if isinstance(text, dict):
        return dict(text)
    try:
        kwargs = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{flag} is not valid YAML: {exc}") from None
    if not isinstance(kwargs, dict):
        raise InputError(f"{flag} must be a mapping such as '{{sigma: 3.4}}', got {text!r}")
    return kwargs


def ase_calculator_class(spec: str, flag: str = "--ase-calculator"):
    """The calculator class of ``spec``: a module of ase.calculators by name (``emt``, ``morse``: its
    calculator class) or ``module:Class``. InputError naming ``flag`` and what is wrong."""
    if ":" in spec:
        module_name, class_name = spec.split(":", 1)
    else:
        module_name, class_name = f"ase.calculators.{spec.lower()}", None
    if not module_name or (class_name is not None and not class_name):
        raise InputError(f"{flag} {spec!r}: expected 'module:Class', e.g. 'ase.calculators.emt:EMT'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"{flag} {spec!r}: cannot import {module_name} ({exc})") from None
    if class_name is not None:
        cls = getattr(module, class_name, None)
        if cls is None:
            raise InputError(f"{flag} {spec!r}: {module_name} has no {class_name}")
        return cls
    from ase.calculators.calculator import BaseCalculator

    candidates = [obj for obj in vars(module).values() if isinstance(obj, type)
                  and issubclass(obj, BaseCalculator) and obj.__module__ == module.__name__]
    exact = [c for c in candidates if c.__name__.lower() == spec.lower()]
    if exact:
        return exact[0]
    if len(candidates) == 1:
        return candidates[0]
    raise InputError(f"{flag} {spec!r}: {module_name} defines "
                     f"{', '.join(c.__name__ for c in candidates) or 'no calculator'}; "
                     f"name one as '{module_name}:Class'")


#: Keywords every ASE ``Calculator`` takes besides its own parameters.
_ASE_BASE_KEYWORDS = {"restart", "ignore_bad_restart_file", "label", "atoms", "directory", "command", "profile",
                      "comm", "txt"}


def _unknown_keywords(cls, kwargs: dict) -> list[str]:
    """Keywords an ASE calculator would silently store and ignore: not among its ``default_parameters``
    nor its ``__init__``'s named arguments (only judged for classes that declare ``default_parameters``)."""
    import inspect

    known = getattr(cls, "default_parameters", None)
    if not isinstance(known, dict) or not known:
        return []
    try:
        signature = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return []
    named = {p.name for p in signature.parameters.values()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if not any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values()):
        return []  # a fixed signature: Python itself rejects unknown keywords
    return sorted(k for k in kwargs if k not in known and k not in named and k not in _ASE_BASE_KEYWORDS)


def instantiate(cls, kwargs: dict, what: str):
    """``cls(**kwargs)``; a wrong keyword is an InputError naming ``what`` and the keyword (also one an ASE
    calculator would store and ignore)."""
    unknown = _unknown_keywords(cls, kwargs)
    if unknown:
        choices = ", ".join(sorted(cls.default_parameters))
        raise InputError(f"{what}: bad --calculator-args: {cls.__name__} has no parameter "
                         f"{', '.join(unknown)} (its parameters: {choices})")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise InputError(f"{what}: bad --calculator-args: {exc}") from None


def _xtb(name: str, kwargs: dict):
    try:
        from tblite.ase import TBLite
    except ImportError as exc:
        raise InputError(f"--reference {name} needs tblite (GFN-xTB): pip install tblite ({exc})") from None
    method = _XTB_METHODS[name]
    if "method" in kwargs and kwargs["method"] != method:
        raise InputError(f"--reference {name} is {method}; --calculator-args sets method {kwargs['method']!r} "
                         "(choose the method by name: xtb/gfn2 or gfn1)")
    options = {"method": method, "verbosity": 0, **kwargs}
    return instantiate(TBLite, options, f"--reference {name}")


def make_reference(name: str, calculator_args: str | dict | None = None) -> Reference:
    """The reference calculator called ``name`` (see the module docstring), with ``calculator_args``
    (a YAML mapping or a dict) as its keyword arguments."""
    if not isinstance(name, str) or not name:
        raise InputError(f"--reference needs a name: {reference_names()}")
    kwargs = parse_calculator_args(calculator_args)
    key = name.lower()
    if key in _XTB_METHODS:
        return Reference(name, _xtb(key, kwargs), REFERENCES[key])
    if key == "emt":
        from ase.calculators.emt import EMT

        return Reference(name, instantiate(EMT, kwargs, "--reference emt"), REFERENCES[key])
    if key.startswith("ase:"):
        cls = ase_calculator_class(name[4:], flag="--reference")
        return Reference(name, instantiate(cls, kwargs, f"--reference {name}"), f"ASE {cls.__name__}")
    raise InputError(f"--reference {name!r} is not a known reference; choose one of {reference_names()}")


def supported_numbers(name: str) -> set[int] | None:
    """Atomic numbers the named reference has parameters for (None: not known, e.g. ase:module:Class)."""
    key = name.lower()
    if key in _XTB_METHODS:
        return set(range(1, XTB_MAX_Z + 1))
    if key == "emt":
        from ase.calculators.emt import parameters
        from ase.data import atomic_numbers

        return {atomic_numbers[symbol] for symbol in parameters}
    return None


def check_elements(name: str, numbers) -> None:
    """InputError naming the first atom (index and element) that reference ``name`` cannot compute."""
    from ase.data import chemical_symbols

    allowed = supported_numbers(name)
    if allowed is None:
        return
    numbers = np.asarray(numbers, dtype=int)
    bad = [k for k, z in enumerate(numbers) if int(z) not in allowed]
    if bad:
        k = bad[0]
        z = int(numbers[k])
        symbol = chemical_symbols[z] if 0 < z < len(chemical_symbols) else f"Z={z}"
        others = sorted({int(numbers[j]) for j in bad})
        listed = ", ".join(chemical_symbols[v] if 0 < v < len(chemical_symbols) else f"Z={v}" for v in others)
        what = REFERENCES.get(name.lower(), name)
        span = ("H to Rn (Z 1-86)" if name.lower() in _XTB_METHODS
                else " ".join(chemical_symbols[v] for v in sorted(allowed)))
        raise InputError(f"--reference {name} ({what}) cannot compute atom {k} ({symbol}); it knows {span} "
                         f"(unsupported here: {listed})")


def reference_provider(name: str, calculator_args=None, numbers=None):
    """``(provider, description, supports_stress)`` of the named reference; with ``numbers``, its elements
    are checked first (a clear error naming the atom instead of a failure inside the calculator)."""
    if numbers is not None:
        check_elements(name, numbers)
    ref = make_reference(name, calculator_args)
    return ref.provider(), ref.description, ref.supports_stress
