"""The package's public face: version from the metadata, lazy top-level exports, trimmed sub-package faces."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

import surrogate

ROOT = Path(__file__).resolve().parents[2]


def test_version_is_the_package_metadata():
    assert surrogate.__version__ == version("surrogate-md")


def test_top_level_names_are_the_real_objects():
    from surrogate.calculator import SurrogateCalculator
    from surrogate.egnn.provider import EGNNForceProvider
    from surrogate.egnn.train import load_egnn
    from surrogate.lstm.train import load_lstm

    assert surrogate.SurrogateCalculator is SurrogateCalculator and surrogate.load_egnn is load_egnn
    assert surrogate.load_lstm is load_lstm and surrogate.EGNNForceProvider is EGNNForceProvider
    assert set(surrogate.__all__) <= set(dir(surrogate))
    with pytest.raises(AttributeError, match="no attribute 'SurogateCalculator'"):
        surrogate.SurogateCalculator  # noqa: B018


def test_import_surrogate_does_not_import_torch():
    code = "import sys, surrogate; print(surrogate.__version__, 'torch' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split() == [version("surrogate-md"), "False"]


def test_lstm_face_is_the_public_workflow_only():
    import surrogate.lstm as lstm

    assert len(lstm.__all__) == len(set(lstm.__all__)) == 13
    for name in lstm.__all__:
        assert getattr(lstm, name).__module__.startswith("surrogate.lstm.")
    for internal in ("make_windows", "check_compatible", "ModelMismatchError", "EnergyCorrectionError"):
        assert internal not in lstm.__all__ and not hasattr(lstm, internal)
