"""Model headers are validated field by field against the weights before anything is allocated (issue 10).

Two layers are tested. Edits saved without a new content hash (what a user with a text editor or a
hex editor produces) are refused as a modified file, whatever field they touch: this is what guards
the fields the weights cannot reveal (EGNN cutoff, LSTM stride and window, system.n_atoms). Edits
saved WITH a matching hash (a buggy or hostile writer) must still be refused by name wherever the
value is invalid or conflicts with the weights.
"""

from __future__ import annotations

import json
import math
import resource
import tempfile
import pathlib

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surrogate.model_file import ModelFileError, load_model_file
from systems.errors import InputError
from tests.surrogate.model_file_helpers import MAKERS, deleter, edited, loader, setter


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One small, valid model file of each kind."""
    root = tmp_path_factory.mktemp("models")
    return {kind: make(root / f"{kind}.pt") for kind, make in MAKERS.items()}


def test_valid_files_of_every_kind_load_with_their_weights(files):
    for kind, path in files.items():
        loaded = loader(kind)(path)
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        _, state = load_model_file(path)
        assert set(model.state_dict()) == set(state)
        assert all(torch.equal(model.state_dict()[k].cpu(), v) for k, v in state.items())


# Edits named in the issue that keep every weight shape: only the content hash can see them.
PHYSICS_EDITS = [
    ("egnn", "architecture.cutoff", 9.0),
    ("egnn", "architecture.species", [29]),
    ("lstm", "stride_steps", 200),
    ("lstm", "architecture.window", 3),
    ("lstm_manybody", "system.n_atoms", 999),
    ("lstm_manybody", "architecture.window", 3),
    ("lstm_manybody", "architecture.stride", 2.0),
]


@pytest.mark.parametrize("kind, field, value", PHYSICS_EDITS)
def test_header_edits_the_weights_cannot_reveal_are_refused_as_tampering(files, tmp_path, kind, field, value):
    bad = edited(files[kind], tmp_path / "edited.pt", setter(field, value))
    with pytest.raises(ModelFileError, match=r"edited\.pt was modified or damaged"):
        loader(kind)(bad)


# (kind, field, new value, words the refusal must contain besides the file and field name)
FIELD_EDITS = [
    ("egnn", "architecture.avg_num_neighbors", 0, "positive finite number"),
    ("egnn", "architecture.cutoff", -5, "positive finite number"),
    ("egnn", "architecture.cutoff", "abc", "positive finite number"),
    ("egnn", "architecture.cutoff", float("nan"), "positive finite number"),
    ("egnn", "architecture.hidden", 16, "'embedding.weight' has shape [1, 8]"),
    ("egnn", "architecture.hidden", 2.5, "integer"),
    ("egnn", "architecture.layers", 3, "hold 2 'layers' blocks"),
    ("egnn", "architecture.n_radial", 6, "edge_geometry"),
    ("egnn", "architecture.species", [18, 29], "conflicts with header field 'architecture.species' = [18, 29]"),
    ("egnn", "architecture.species", [200], "1..118"),
    ("egnn", "architecture.envelope", "gaussian", "one of"),
    ("egnn", "cutoff", 9.0, "conflicts with header field 'architecture.cutoff'"),
    ("egnn", "dtype", "float64", "is float32"),
    ("lstm", "architecture.hidden", [16, 8], "'lstms.0.weight_hh_l0' has shape"),
    ("lstm", "architecture.hidden.1", 4, "'lstms.1.weight_hh_l0' has shape"),
    ("lstm", "architecture.hidden", [8], "hold 2 'lstms' blocks"),
    ("lstm", "architecture.n_particles", 5, "'system.n_particles' = 4 conflicts"),
    ("lstm", "architecture.dense", 32, "'dense.weight' has shape"),
    ("lstm", "architecture.box", [6.0, 6.0, 6.0], "'system.box' = [5.1, 5.1, 5.1] conflicts"),
    ("lstm", "architecture.window", 1, "integer >= 2"),
    ("lstm", "architecture.dropout", 1.5, "[0, 1)"),
    ("lstm", "stride", 1.0, "conflicts with stride_steps"),
    ("lstm", "system.n_particles", 999, "conflicts with header field 'architecture.n_particles'"),
    ("lstm", "system.kind", "water", "one of"),
    ("lstm_manybody", "architecture.hidden", 15000, "'lstm.weight_hh_l0' has shape [32, 8]"),
    ("lstm_manybody", "architecture.n_rbf", 12, "'centers' has shape [6]"),
    ("lstm_manybody", "architecture.cutoff", 9.0, "radial basis ends at 5"),
    ("lstm_manybody", "architecture.velocity_scale", 0.1, "v_scale"),
    ("lstm_manybody", "architecture.layers", 2, "hold 1 'interactions' blocks"),
    ("lstm_manybody", "architecture.force_input", True, "'lstm.weight_ih_l0' has shape [32, 4]"),
    ("lstm_manybody", "system.n_atoms", "abc", "integer"),
    ("lstm_manybody", "stride", 2.0, "conflicts with header field 'architecture.stride'"),
    ("egnn_nbody", "architecture.hidden", 16, "'embedding.weight' has shape [8, 1]"),
    ("egnn_nbody", "architecture.n_layers", 3, "hold 2 'layers' blocks"),
    ("egnn_nbody", "architecture.length_scale", 0, "positive finite number"),
    ("egnn_nbody", "architecture.coord_mlp", False, "do not fit"),
]


@pytest.mark.parametrize("kind, field, value, words", FIELD_EDITS)
def test_bad_or_conflicting_header_fields_are_refused_by_name(files, tmp_path, kind, field, value, words):
    bad = edited(files[kind], tmp_path / "bad.pt", setter(field, value), rehash=True)
    with pytest.raises(ModelFileError) as info:
        loader(kind)(bad)
    message = str(info.value)
    assert "bad.pt" in message, message
    # The field itself, or (for a list) one of its items, is named.
    assert f"'{field}'" in message or f"'{field}." in message or (words == "do not fit" and "architecture" in message), \
        message
    assert words in message, message


@pytest.mark.parametrize("kind, field", [
    ("egnn", "architecture"), ("egnn", "architecture.n_radial"), ("egnn", "architecture.avg_num_neighbors"),
    ("lstm", "architecture"), ("lstm", "architecture.dense"), ("lstm", "stride"), ("lstm", "system"),
    ("lstm_manybody", "architecture"), ("lstm_manybody", "architecture.n_rbf"), ("lstm_manybody", "masses"),
    ("egnn_nbody", "architecture"), ("egnn_nbody", "architecture.hidden"),
])
def test_missing_header_fields_are_refused_by_name(files, tmp_path, kind, field):
    bad = edited(files[kind], tmp_path / "bad.pt", deleter(field), rehash=True)
    with pytest.raises(ModelFileError, match=rf"bad\.pt: header field '{field}(\.\w+)?' is missing"):
        loader(kind)(bad)


def test_an_edited_species_table_is_refused_even_with_a_matching_hash(files, tmp_path):
    # Argon model relabelled as copper in the header AND in the species list: the weights' table still says argon.
    def relabel(header):
        header["species"] = [29]
        header["architecture"]["species"] = [29]

    bad = edited(files["egnn"], tmp_path / "cu.pt", relabel, rehash=True)
    with pytest.raises(ModelFileError, match=r"cu\.pt: header field 'architecture.species' = \[29\] conflicts with "
                                             r"the weights: their species table knows atomic numbers \[18\]"):
        loader("egnn")(bad)


@pytest.mark.parametrize("hidden", [15000, 60000])
def test_a_huge_hidden_in_a_small_file_is_refused_before_any_allocation(files, tmp_path, hidden):
    bad = edited(files["egnn"], tmp_path / "huge.pt", setter("architecture.hidden", hidden), rehash=True)
    assert bad.stat().st_size < 40_000  # the file holds a hidden-8 model
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    with pytest.raises(ModelFileError, match=rf"'architecture.hidden' = {hidden} conflicts with the weights: "
                                             r"'embedding.weight' has shape \[1, 8\]"):
        loader("egnn")(bad)
    # Building the model first would touch 5.7 GB (15000) or 29 GB (60000) of weights.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 200_000


def test_the_meta_build_catches_what_the_named_checks_do_not(files, tmp_path):
    # A tensor of the right name but a wrong inner shape (the named checks look at other tensors).
    def widen(state):
        state["readout.0.weight"] = torch.zeros(8, 9)

    bad = edited(files["egnn"], tmp_path / "inner.pt", edit_state=widen, rehash=True)
    with pytest.raises(ModelFileError, match=r"inner\.pt: the header's architecture \(hidden=8, layers=2, n_radial=4\) "
                                             r"implies weight 'readout.0.weight' of shape \[8, 8\], the file holds \[8, 9\]"):
        loader("egnn")(bad)


# ---------------------------------------------------------------- fuzz
def _paths(node, prefix=""):
    """Dotted paths of every value in a JSON tree (list items by index)."""
    out = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        path = f"{prefix}{key}"
        out.append(path)
        out.extend(_paths(value, path + "."))
    return out


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.sampled_from([0, 1, -1, 2, 3, 15000, 10**9])
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def header_mutations(draw):
    kind = draw(st.sampled_from(sorted(MAKERS)))
    return kind, draw(st.integers(0, 10**6)), draw(st.sampled_from(["set", "delete"])), draw(JSON_VALUES), \
        draw(st.booleans())


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=header_mutations())
def test_fuzzed_headers_load_correctly_or_give_a_named_error(files, mutation):
    kind, pick, action, value, rehash = mutation
    header = json.loads(torch.load(files[kind], weights_only=True)["header_json"])
    paths = [p for p in _paths(header) if p not in ("kind", "format_version")]
    field = paths[pick % len(paths)]

    def edit(h):
        *parents, last = field.split(".")
        node = h
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if action == "delete" and isinstance(node, dict):
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    changed = dict(json.loads(json.dumps(header)))
    edit(changed)
    unchanged = json.dumps(changed, sort_keys=True) == json.dumps(header, sort_keys=True)
    with tempfile.TemporaryDirectory() as tmp:
        bad = edited(files[kind], pathlib.Path(tmp) / "fuzz.pt", edit, rehash=rehash)
        try:
            loaded = loader(kind)(bad)
        except ModelFileError as exc:
            assert "fuzz.pt" in str(exc)
            return
        except InputError as exc:  # pragma: no cover - must at least be named
            pytest.fail(f"{field} -> {value!r}: InputError that is not a ModelFileError: {exc}")
    # Loaded: the model holds exactly the file's weights.
    model = loaded[0] if isinstance(loaded, tuple) else loaded
    _, state = load_model_file(files[kind])
    assert all(torch.equal(model.state_dict()[k].cpu(), v) for k, v in state.items())
    if not rehash and not unchanged:
        pytest.fail(f"{field} -> {value!r}: an edited header without a new hash was accepted")
    if isinstance(value, float) and not math.isfinite(value) and field.startswith("architecture"):
        pytest.fail(f"{field} -> {value!r}: a non-finite architecture value was accepted")
