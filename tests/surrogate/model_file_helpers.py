"""Small model files of every kind, and a way to edit them behind the writer's back (for the refusal tests)."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import torch

from surrogate.model_file import content_hash


def egnn_file(path) -> pathlib.Path:
    """An argon EGNN (species [18], cutoff 5 Å, hidden 8, 2 layers, 4 radial functions)."""
    from surrogate.egnn.model import EGNNEnergyModel
    from surrogate.egnn.train import save_egnn

    torch.manual_seed(0)
    model = EGNNEnergyModel([18], 5.0, hidden=8, layers=2, n_radial=4, avg_num_neighbors=12.0)
    return save_egnn(model, path, training_hash="test")


def lstm_file(path) -> pathlib.Path:
    """A flat LSTM operator for 4 LJ particles in a periodic 5.1 Å cube (window 5, hidden (8, 8), dense 16).

    5.1 is not a float32 number: the float32 box buffer and the float64 system box differ in the last digits.
    """
    from surrogate.lstm.data import OperatorData
    from surrogate.lstm.model import LSTMOperator
    from surrogate.lstm.train import model_header, save_lstm

    torch.manual_seed(0)
    model = LSTMOperator(4, 3, 5, (8, 8), 16, box=[5.1, 5.1, 5.1])
    system = {"kind": "lj_periodic", "potential": "lennard_jones", "n_particles": 4, "dim": 3,
              "masses": [1.0] * 4, "box": [5.1, 5.1, 5.1], "sigma": 1.0, "epsilon": 1.0, "cutoff": 2.5,
              "energy_shift": 0.0, "translation_invariant": True, "units": "reduced"}
    data = OperatorData(np.zeros((1, 2, 4, 3)), np.zeros((1, 2, 4, 3)), np.ones((1, 4)), np.zeros((1, 2)),
                        np.zeros((1, 0)), 0.005, 100, system)
    return save_lstm(model, path, model_header(model, data, 100, "test"))


def manybody_file(path) -> pathlib.Path:
    """A many-body operator (cutoff 5 Å, stride 1, window 5, hidden 8, 1 layer, 6 radial functions) for 32 argon."""
    from surrogate.lstm.manybody import ManyBodyOperator, manybody_header
    from surrogate.model_file import save_model_file

    torch.manual_seed(0)
    model = ManyBodyOperator(5.0, 1.0, 0.05, window=5, hidden=8, layers=1, n_rbf=6)
    header = manybody_header(model, [39.948] * 32, {"source": "test", "n_atoms": 32})
    return save_model_file(path, model.state_dict(), header)


def nbody_file(path) -> pathlib.Path:
    """A charged n-body EGNN (hidden 8, 2 layers)."""
    from surrogate.nbody.model import NBodyEGNN, save_nbody_model

    torch.manual_seed(0)
    save_nbody_model(NBodyEGNN(hidden=8, n_layers=2), path)
    return pathlib.Path(path)


MAKERS = {"egnn": egnn_file, "lstm": lstm_file, "lstm_manybody": manybody_file, "egnn_nbody": nbody_file}


def loader(kind):
    """The package's loader of model files of ``kind``."""
    if kind == "egnn":
        from surrogate.egnn.train import load_egnn

        return load_egnn
    if kind == "lstm":
        from surrogate.lstm.train import load_lstm

        return load_lstm
    if kind == "lstm_manybody":
        from surrogate.lstm.manybody import load_manybody

        return load_manybody
    from surrogate.nbody.model import load_nbody_model

    return load_nbody_model


def edited(source, target, edit_header=None, edit_state=None, rehash=False) -> pathlib.Path:
    """Copy model file ``source`` to ``target`` with its header (a dict) and/or tensors edited in place.

    ``rehash=False`` keeps the recorded content hash (a tampered file); ``rehash=True`` records the
    hash of the edited content, as a buggy or malicious writer could, so that only the header checks
    stand between the file and a model.
    """
    payload = torch.load(source, weights_only=True)
    header = json.loads(payload["header_json"])
    if edit_header is not None:
        edit_header(header)
    payload["header_json"] = json.dumps(header, sort_keys=True)
    if edit_state is not None:
        edit_state(payload["state_dict"])
    if rehash:
        payload["content_sha256"] = content_hash(payload["header_json"], payload["state_dict"])
    torch.save(payload, target)
    return pathlib.Path(target)


def setter(dotted: str, value):
    """An ``edit_header`` that sets header field ``dotted`` (``"architecture.hidden"``) to ``value``."""

    def edit(header):
        *parents, last = dotted.split(".")
        node = header
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return edit


def deleter(dotted: str):
    """An ``edit_header`` that removes header field ``dotted``."""

    def edit(header):
        *parents, last = dotted.split(".")
        node = header
        for key in parents:
            node = node[key]
        del node[last]

    return edit
