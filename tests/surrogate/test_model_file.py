"""Model files: round trip, safe loading (no code runs), versions, kinds, corruption, data hash."""

import json
import os
import pickle

import numpy as np
import pytest
import torch

from surrogate.model_file import FORMAT_VERSION, ModelFileError, data_hash, load_model_file, save_model_file
from systems.errors import InputError


def _state():
    gen = torch.Generator().manual_seed(0)
    return {"w": torch.randn(3, 4, generator=gen, dtype=torch.float64), "b": torch.arange(4, dtype=torch.float32)}


def test_round_trip_keeps_tensors_and_header(tmp_path):
    state = _state()
    path = save_model_file(tmp_path / "sub" / "m.pt", state, {"kind": "egnn", "cutoff": 5.0, "species": [1, 8]})
    header, loaded = load_model_file(path, expected_kind="egnn")
    assert header["kind"] == "egnn" and header["cutoff"] == 5.0 and header["species"] == [1, 8]
    assert header["format_version"] == FORMAT_VERSION
    assert "package_version" in header and "created" in header
    assert set(loaded) == {"w", "b"}
    for k in state:
        assert loaded[k].dtype == state[k].dtype
        assert torch.equal(loaded[k], state[k])
    # Atomic write leaves no temporary file behind.
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.pt"]


def test_model_round_trip_through_module(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.SiLU(), torch.nn.Linear(5, 1))
    save_model_file(tmp_path / "m.pt", model.state_dict(), {"kind": "mlp"})
    clone = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.SiLU(), torch.nn.Linear(5, 1))
    clone.load_state_dict(load_model_file(tmp_path / "m.pt")[1])
    x = torch.randn(7, 3)
    assert torch.equal(model(x), clone(x))


class _Evil:
    """Pickles into a call of os.system that would create a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_plain_pickle_is_refused_without_side_effect(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pt"
    with open(bad, "wb") as handle:
        pickle.dump({"header_json": "{}", "state_dict": _Evil(marker)}, handle, protocol=2)
    with pytest.raises(ModelFileError, match="evil.pt.*refused"):
        load_model_file(bad)
    assert not marker.exists()


def test_malicious_torch_zip_is_refused_without_side_effect(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil_zip.pt"
    header = json.dumps({"kind": "egnn", "format_version": FORMAT_VERSION})
    torch.save({"header_json": header, "state_dict": {"w": torch.zeros(2), "x": _Evil(marker)}}, bad)
    with pytest.raises(ModelFileError, match="refused"):
        load_model_file(bad)
    assert not marker.exists()
    # Control: an unsafe load of the same file does run the payload, so the test above can fail.
    torch.load(bad, weights_only=False)
    assert marker.exists()


def test_incompatible_format_version_names_both_versions(tmp_path):
    path = tmp_path / "future.pt"
    torch.save({"header_json": json.dumps({"kind": "egnn", "format_version": 99, "package_version": "9.9"}),
                "state_dict": {}}, path)
    with pytest.raises(ModelFileError) as info:
        load_model_file(path)
    msg = str(info.value)
    assert "99" in msg and f"format_version {FORMAT_VERSION}" in msg and "future.pt" in msg


def test_wrong_kind_is_refused(tmp_path):
    path = save_model_file(tmp_path / "lstm.pt", _state(), {"kind": "lstm"})
    with pytest.raises(ModelFileError, match="'lstm'.*expected 'egnn'"):
        load_model_file(path, expected_kind="egnn")


def test_missing_and_corrupt_files_name_the_path(tmp_path):
    with pytest.raises(ModelFileError, match="nothere.pt"):
        load_model_file(tmp_path / "nothere.pt")
    good = save_model_file(tmp_path / "good.pt", _state(), {"kind": "egnn"})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ModelFileError, match="truncated.pt"):
        load_model_file(truncated)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a model file at all")
    with pytest.raises(ModelFileError, match="garbage.pt"):
        load_model_file(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(1)}, foreign)
    with pytest.raises(ModelFileError, match="foreign.pt"):
        load_model_file(foreign)


def test_model_file_error_is_an_input_error():
    assert issubclass(ModelFileError, InputError) and issubclass(ModelFileError, ValueError)


def test_bad_header_is_refused(tmp_path):
    with pytest.raises(ModelFileError, match="kind"):
        save_model_file(tmp_path / "a.pt", _state(), {"cutoff": 5.0})
    with pytest.raises(ModelFileError, match="reserved"):
        save_model_file(tmp_path / "a.pt", _state(), {"kind": "egnn", "format_version": 0})
    with pytest.raises(ModelFileError, match="JSON"):
        save_model_file(tmp_path / "a.pt", _state(), {"kind": "egnn", "bad": object()})
    assert not (tmp_path / "a.pt").exists()


def test_data_hash_sensitive_to_values_shapes_dtypes_and_order():
    a = np.arange(12.0).reshape(3, 4)
    b = np.ones(5, dtype=np.int64)
    h = data_hash(a, b)
    assert h == data_hash(a.copy(), b.copy())
    assert h == data_hash(torch.from_numpy(a), torch.from_numpy(b))
    assert len(h) == 64
    changed = a.copy()
    changed[1, 2] += 1e-12
    assert data_hash(changed, b) != h
    assert data_hash(a.reshape(4, 3), b) != h
    assert data_hash(a.astype(np.float32), b) != h
    assert data_hash(b, a) != h
    assert data_hash(np.asfortranarray(a), b) == h


# ---------------------------------------------------------------- integrity (issue 10, items 3 and 4)
def test_content_hash_covers_header_text_names_dtypes_shapes_and_every_bit():
    from surrogate.model_file import content_hash

    state = _state()
    h = content_hash('{"kind": "egnn"}', state)
    assert len(h) == 64 and h == content_hash('{"kind": "egnn"}', {k: v.clone() for k, v in reversed(state.items())})
    assert content_hash('{"kind": "egnn" }', state) != h
    flipped = {k: v.clone() for k, v in state.items()}
    flipped["w"].view(torch.int64)[1, 2] ^= 1  # lowest mantissa bit of one weight
    assert content_hash('{"kind": "egnn"}', flipped) != h
    assert content_hash('{"kind": "egnn"}', {"w": state["w"].reshape(4, 3), "b": state["b"]}) != h
    assert content_hash('{"kind": "egnn"}', {"w": state["w"], "b": state["b"].double()}) != h
    assert content_hash('{"kind": "egnn"}', {"v": state["w"], "b": state["b"]}) != h


def test_a_flipped_byte_in_the_weights_is_refused_naming_the_file(tmp_path):
    state = {"w": torch.linspace(0.1, 0.9, 64, dtype=torch.float64)}
    path = save_model_file(tmp_path / "m.pt", state, {"kind": "egnn"})
    raw = bytearray(path.read_bytes())
    where = bytes(raw).find(state["w"].numpy().tobytes())  # torch.save stores tensor bytes uncompressed
    assert where > 0
    raw[where + 8 * 20 + 3] ^= 0x10
    bad = tmp_path / "flipped.pt"
    bad.write_bytes(bytes(raw))
    # Control: torch itself loads the damaged file without complaint, with a different weight.
    damaged = torch.load(bad, weights_only=True)["state_dict"]["w"]
    assert not torch.equal(damaged, state["w"])
    with pytest.raises(ModelFileError, match=r"flipped\.pt was modified or damaged"):
        load_model_file(bad)


def test_an_edited_header_is_refused_as_modified(tmp_path):
    from tests.surrogate.model_file_helpers import edited, setter

    path = save_model_file(tmp_path / "m.pt", _state(), {"kind": "egnn", "cutoff": 5.0})
    load_model_file(path)
    bad = edited(path, tmp_path / "edited.pt", setter("cutoff", 9.0))
    with pytest.raises(ModelFileError, match=r"edited\.pt was modified or damaged"):
        load_model_file(bad)
    payload = torch.load(path, weights_only=True)
    del payload["content_sha256"]
    torch.save(payload, tmp_path / "nohash.pt")
    with pytest.raises(ModelFileError, match=r"nohash\.pt has no content hash"):
        load_model_file(tmp_path / "nohash.pt")


def test_format_version_1_files_without_a_hash_are_refused_by_name(tmp_path):
    header = json.dumps({"kind": "egnn", "format_version": 1, "package_version": "0.1.0"})
    torch.save({"header_json": header, "state_dict": _state()}, tmp_path / "old.pt")
    with pytest.raises(ModelFileError, match=r"old\.pt has format_version 1 .*no content hash.*retrain"):
        load_model_file(tmp_path / "old.pt")


def test_malicious_pickle_refusal_does_not_suggest_the_unsafe_retry(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pt"
    torch.save({"header_json": "{}", "state_dict": {"x": _Evil(marker)}}, bad)
    with pytest.raises(ModelFileError) as info:
        load_model_file(bad)
    message = str(info.value)
    assert "evil.pt" in message and "posix.system" in message
    assert "weights_only" not in message and "trusted source" not in message and "Re-running" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__  # torch's advice is not chained either
    assert not marker.exists()


def test_malicious_pickle_is_refused_even_after_mace_forces_unsafe_loads(tmp_path, monkeypatch):
    # `import mace` sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 for the whole process; our explicit
    # weights_only=True must still win, so a user who has MACE loaded runs no code from a model file.
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pt"
    torch.save({"header_json": "{}", "state_dict": {"x": _Evil(marker)}}, bad)
    with pytest.raises(ModelFileError, match="evil.pt"):
        load_model_file(bad)
    assert not marker.exists()
