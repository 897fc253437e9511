"""Fuzzing the readers of checkpoints and attribute vectors over a real tiny checkpoint.

Every damaged, foreign or hand-edited file must either load exactly as the original did or
raise CheckpointError with a message: never another exception (TypeError, KeyError,
ValueError from NumPy, MemoryError...), never a half-loaded model.
"""

from __future__ import annotations

import copy
import io
import json

import numpy as np
import pytest

from minigan.checkpoint import load_checkpoint, load_discriminator, load_generator
from minigan.errors import CheckpointError
from minigan.latent import load_vector, save_vector
from minigan.train import Trainer

from .cases import tiny_train_config


@pytest.fixture(scope="module")
def original(tmp_path_factory, tiny_idols):
    """A real training checkpoint, stopped mid-epoch (so it holds an epoch order too): its bytes,
    its arrays and metadata, and the weights a resumed trainer holds."""
    out = tmp_path_factory.mktemp("fuzz")
    trainer = Trainer(tiny_train_config(out, epochs=1), dataset=tiny_idols, stream=io.StringIO())
    trainer.run()
    trainer.batch_in_epoch, trainer.step = 2, 6  # as if Ctrl-C had stopped it in epoch 2
    trainer.order = np.random.default_rng(0).permutation(len(tiny_idols))
    path = out / "run" / "checkpoints" / "last.npz"
    trainer.save(path)
    arrays, meta = load_checkpoint(path)
    return {"bytes": path.read_bytes(), "arrays": arrays, "meta": meta, "dataset": tiny_idols}


def attempt(path, original, resume=True):
    """Load ``path`` every way minigan does. Returns "ok" or "error"; any other exception fails."""
    try:
        arrays, meta = load_checkpoint(path)
        G, loaded = load_generator(path)
        D, _ = load_discriminator(path)
        if resume:
            trainer = Trainer(resume=path, dataset=original["dataset"], stream=io.StringIO())
    except CheckpointError as exc:
        assert str(exc) and "\n" not in str(exc).split(":")[0]
        return "error"
    # it loaded: then its arrays and models must be the original's, bit for bit
    assert arrays.keys() == original["arrays"].keys()
    for key, value in original["arrays"].items():
        np.testing.assert_array_equal(arrays[key], value, err_msg=key)
    for prefix, model in ((loaded["generator"], G), ("D", D)):  # G_ema: the moving average is what is sampled
        for k, v in model.state_dict().items():
            np.testing.assert_array_equal(v, original["arrays"][f"{prefix}/{k}"])
    if resume:
        assert (trainer.epoch, trainer.batch_in_epoch, trainer.step) == (meta["epoch"], meta["batch_in_epoch"], meta["step"])
    return "ok"


def run_dir_file(tmp_path, data: bytes, name="case"):
    """``data`` as ``tmp_path/name/checkpoints/last.npz`` (a run folder a Trainer can resume)."""
    path = tmp_path / name / "checkpoints" / "last.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_the_original_loads(tmp_path, original):
    assert attempt(run_dir_file(tmp_path, original["bytes"]), original) == "ok"


def test_truncations(tmp_path, original):
    data = original["bytes"]
    cuts = sorted({0, 1, 2, 3, 4, 10, 29, 30, 64, 128, len(data) - 22, len(data) - 21, len(data) - 1,
                   *np.linspace(5, len(data) - 2, 40).astype(int).tolist()})
    outcomes = [attempt(run_dir_file(tmp_path, data[:n]), original, resume=False) for n in cuts]
    assert outcomes == ["error"] * len(cuts)


@pytest.mark.slow
def test_byte_flips(tmp_path, original):
    data = original["bytes"]
    rng = np.random.default_rng(7)
    positions = sorted({*range(0, 40), *range(len(data) - 120, len(data)),
                        *rng.integers(0, len(data), 240).tolist()})
    outcomes = {}
    for i in positions:
        flipped = bytearray(data)
        flipped[i] ^= 1 << int(rng.integers(0, 8))
        outcomes[i] = attempt(run_dir_file(tmp_path, bytes(flipped)), original, resume=False)
    # a flip in an array's bytes (its .npy header or data) is always caught, by the CRC; flips
    # that load (in ZIP fields nobody reads: timestamps, attributes) loaded the original exactly
    in_data = [i for i in positions if any(start <= i < end for start, end in member_data(data))]
    assert len(in_data) > 150 and all(outcomes[i] == "error" for i in in_data)
    assert set(outcomes.values()) == {"ok", "error"}


def member_data(data: bytes):
    """``(start, end)`` of each ZIP member's stored bytes in ``data``."""
    import struct
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
            start = info.header_offset + 30 + name_len + extra_len
            yield start, start + info.compress_size


@pytest.mark.parametrize("content", [
    b"", b"\x00", b"PK", b"PK\x03\x04" + bytes(100), b"PK\x05\x06" + bytes(18), b"\x93NUMPY",
    b"not a checkpoint at all", bytes(range(256)) * 8, b"\x80\x04\x95 pickle-ish",
])
def test_random_and_foreign_bytes(tmp_path, original, content):
    assert attempt(run_dir_file(tmp_path, content), original, resume=False) == "error"


def test_random_bytes_say_not_an_npz_archive(tmp_path, original):
    path = run_dir_file(tmp_path, np.random.default_rng(1).bytes(5000))
    with pytest.raises(CheckpointError, match=r"is not a minigan checkpoint \(not an \.npz archive\)"):
        load_checkpoint(path)


def test_an_npy_renamed_npz_and_an_npz_with_pickled_objects(tmp_path, original):
    path = tmp_path / "array.npz"
    np.save(tmp_path / "array.npy", np.zeros(3))
    (tmp_path / "array.npy").rename(path)
    with pytest.raises(CheckpointError, match=r"is a single NumPy array \(\.npy\), not a minigan checkpoint"):
        load_generator(path)
    np.savez(tmp_path / "objects.npz", __meta__=np.array(json.dumps(original["meta"])),
             evil=np.array([{"a": 1}], dtype=object))
    with pytest.raises(CheckpointError, match=r"array 'evil' holds Python objects \(pickle\)"):
        load_checkpoint(tmp_path / "objects.npz")


def with_meta(original, meta, arrays=None) -> bytes:
    buffer = io.BytesIO()
    payload = dict(arrays if arrays is not None else original["arrays"])
    payload["__meta__"] = np.array(meta if isinstance(meta, str) else json.dumps(meta))
    np.savez(buffer, **payload)
    return buffer.getvalue()


def edited(original, *path_and_value):
    """The original metadata with ``meta[k1][k2]... = value`` (``DELETE`` removes the key)."""
    meta = copy.deepcopy(original["meta"])
    *keys, value = path_and_value
    target = meta
    for k in keys[:-1]:
        target = target[k]
    if value is DELETE:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return meta


DELETE = object()
WRONG = [None, [], "text", -1, 1.5, 10**30, True, {"x": 1}]
TOP = ["format", "version", "kind", "config", "models", "dataset", "epoch", "batch_in_epoch", "step", "rng", "frames"]
NESTED = [("models", "G"), ("models", "D"), ("models", "G", "nz"), ("models", "G", "ngf"), ("models", "G", "image_size"),
          ("models", "G", "nc"), ("models", "D", "ndf"), ("models", "D", "image_size"), ("config", "nz"),
          ("config", "batch_size"), ("config", "lr_g"), ("config", "noise"), ("config", "data"), ("dataset", "images"),
          ("dataset", "source"), ("rng", "state"), ("rng", "bit_generator"), ("rng", "state", "state")]


@pytest.mark.slow
def test_edited_metadata_fields(tmp_path, original):
    cases = []
    for key in TOP:
        cases += [(key, DELETE)] + [(key, v) for v in WRONG]
    for keys in NESTED:
        cases += [(*keys, DELETE)] + [(*keys, v) for v in WRONG]
    cases += [("models", "G", "nz", 9), ("models", "G", "ngf", 8), ("models", "D", "ndf", 2), ("models", "G", "extra", 1),
              ("config", "nz", 9), ("config", "ngf", 5), ("epoch", 3), ("batch_in_epoch", 3), ("step", 7),
              ("batch_in_epoch", 0), ("frames", ["../../etc/passwd", 3]), ("version", 99)]
    outcomes = {}
    for case in cases:
        outcomes[repr(case[:-1]) + " = " + repr(case[-1])[:20]] = attempt(
            run_dir_file(tmp_path, with_meta(original, edited(original, *case))), original)
    # only edits that leave a valid run load: another data source's name (the data is checked by
    # content), no sample frames, another random state of the right type
    assert sorted(k for k, v in outcomes.items() if v == "ok") == [
        "('config', 'data') = 'text'", "('frames',) = []", "('rng', 'state', 'state') = 10000000000000000000"]
    assert len(outcomes) > 250


@pytest.mark.parametrize("meta", ["[1, 2, 3]", '"a string"', "42", "null", "{not json", "[" * 100000 + "]" * 100000])
def test_metadata_that_is_not_an_object(tmp_path, original, meta):
    assert attempt(run_dir_file(tmp_path, with_meta(original, meta)), original) == "error"


def test_edited_arrays(tmp_path, original):
    """Arrays removed, reshaped, retyped or poisoned while the metadata stays as it was."""
    arrays = original["arrays"]
    cases = {
        "no G/0.W": {k: v for k, v in arrays.items() if k != "G/0.W"},
        "no fixed_noise": {k: v for k, v in arrays.items() if k != "fixed_noise"},
        "no epoch_order": {k: v for k, v in arrays.items() if k != "epoch_order"},
        "no opt step": {k: v for k, v in arrays.items() if k != "opt_g/step"},
        "no Adam moment": {k: v for k, v in arrays.items() if k != "opt_d/0.W/m"},
        "G/0.W reshaped": {**arrays, "G/0.W": arrays["G/0.W"].reshape(-1)},
        "G/0.W as text": {**arrays, "G/0.W": np.full(arrays["G/0.W"].shape, "x")},
        "G/0.W as ints": {**arrays, "G/0.W": arrays["G/0.W"].astype(np.int64)},
        "D/0.W with NaN": {**arrays, "D/0.W": np.where(arrays["D/0.W"] > 0, np.nan, arrays["D/0.W"])},
        "Adam v with inf": {**arrays, "opt_g/0.W/v": arrays["opt_g/0.W/v"] + np.inf},
        "order not a permutation": {**arrays, "epoch_order": np.zeros_like(arrays["epoch_order"])},
        "order as floats": {**arrays, "epoch_order": arrays["epoch_order"].astype(np.float64)},
        "fixed noise float64": {**arrays, "fixed_noise": arrays["fixed_noise"].astype(np.float64)},
        "opt step as a float": {**arrays, "opt_g/step": np.float64(3.5)},
        "opt step negative": {**arrays, "opt_g/step": np.int64(-1)},
    }
    outcomes = {name: attempt(run_dir_file(tmp_path, with_meta(original, original["meta"], a)), original)
                for name, a in cases.items()}
    assert outcomes == {name: "error" for name in cases}


# -- attribute vectors --------------------------------------------------------------------------------


def vector_attempt(path):
    try:
        v = load_vector(path)
    except CheckpointError:
        return "error"
    return v


def test_vector_files_fuzzed(tmp_path):
    path = save_vector(tmp_path / "v.npz", np.arange(8, dtype=np.float32) / 8,
                       {"name": "blond", "method": "labels", "attribute": "hair_color", "plus": "blond"})
    data = path.read_bytes()
    good = load_vector(path)
    rng = np.random.default_rng(3)
    case = tmp_path / "case.npz"
    for n in np.linspace(0, len(data) - 1, 30).astype(int):
        case.write_bytes(data[:n])
        assert vector_attempt(case) == "error"
    for i in rng.integers(0, len(data), 200):
        flipped = bytearray(data)
        flipped[i] ^= 0x04
        case.write_bytes(bytes(flipped))
        result = vector_attempt(case)
        if result != "error":
            np.testing.assert_array_equal(result.vector, good.vector)
            assert result.meta == good.meta
    for meta in ["[]", "{}", '"x"', '{"format": "minigan-vector"}', '{"format": "minigan-vector", "version": "1"}',
                 '{"format": "minigan-vector", "version": 1, "name": ["a"]}',
                 '{"format": "minigan-vector", "version": 1, "attribute": 3}',
                 '{"format": "minigan-vector", "version": 2}', "{bad json"]:
        np.savez(case, vector=good.vector, meta_json=np.array(meta))
        assert vector_attempt(case) == "error", meta
    header = json.dumps({"format": "minigan-vector", "version": 1})
    for vector in [np.array([np.nan, 1.0], np.float32), np.zeros((2, 2), np.float32), np.array(["a", "b"]),
                   np.zeros(0, np.float32), np.int64(3)]:
        np.savez(case, vector=vector, meta_json=np.array(header))
        assert vector_attempt(case) == "error", vector
    np.savez(case, vector=good.vector)
    assert vector_attempt(case) == "error"
    with pytest.raises(CheckpointError, match="refusing to write"):
        save_vector(tmp_path / "nan.npz", np.array([np.nan, 0.0]), {"name": "x"})
    assert not (tmp_path / "nan.npz").exists()
