"""Checkpoints are data, never code: TorchScript archives refused before reading, tensors bounded
by the bytes the file holds, and each broken file named for what it is."""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path

import pytest

from zoo.errors import CheckpointError

torch = pytest.importorskip("torch")

from zoo.checkpoints import load_state_dict, read_checkpoint  # noqa: E402

from .conftest import one_line  # noqa: E402


def _torchscript(path: Path) -> Path:
    torch.jit.script(torch.nn.Linear(2, 2)).save(str(path))
    return path


def test_torch_load_would_hand_a_torchscript_archive_to_torch_jit(tmp_path: Path) -> None:
    """What made --weights dangerous: torch.load dispatches such a zip to torch.jit.load, whose
    __setstate__ methods are code from the file (they can write any file with torch.from_file)."""
    path = _torchscript(tmp_path / "ts.pt")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.load(path, weights_only=False)
    assert any("TorchScript archive" in str(w.message) for w in caught)


@pytest.mark.parametrize("model", ["yolov8n", "resnet18", "yolox-s"])
def test_a_torchscript_archive_is_refused_for_every_model(tmp_path: Path, zoo_cli, model: str) -> None:
    path = _torchscript(tmp_path / "ts.pt")
    proc = zoo_cli("export", model, "--weights", str(path), "-o", str(tmp_path / "out"))
    assert "TorchScript archive" in one_line(proc) and not (tmp_path / "out").exists()


def test_each_broken_file_is_named_for_what_it_is(tmp_path: Path) -> None:
    good = tmp_path / "good.pth"
    torch.save({"w": torch.zeros(64)}, good)
    legacy = tmp_path / "legacy.pth"
    torch.save({"w": torch.zeros(2)}, legacy, _use_new_zipfile_serialization=False)
    cases = {
        "empty": (b"", "is empty"),
        "text": (b"# not weights\n", "text file"),
        "truncated": (good.read_bytes()[:400], "damaged zip"),
        "legacy": (legacy.read_bytes(), "torch < 1.6 legacy"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(CheckpointError, match=message):
            load_state_dict(path)


def _rewrite_pickle(src: Path, dst: Path, edit) -> None:  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(item.filename, edit(data) if item.filename.endswith("data.pkl") else data)


def test_a_bit_flipped_pickle_is_corrupt_not_code(tmp_path: Path) -> None:
    good = tmp_path / "good.pth"
    torch.save({"weight": torch.zeros(3), "bias": torch.zeros(3)}, good)
    flipped = tmp_path / "flipped.pth"
    _rewrite_pickle(good, flipped, lambda b: b[:40] + bytes([b[40] ^ 0x5A]) + b[41:])
    with pytest.raises(CheckpointError) as err:
        load_state_dict(flipped)
    assert "code" not in str(err.value) or "names the class" in str(err.value)


class _Storage:
    """Pickles as a persistent storage id (what torch.save writes for a tensor's storage)."""


class _Tensor:
    def __init__(self, numel: int) -> None:
        self.numel = numel

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (torch._utils._rebuild_tensor_v2, (_Storage(), 0, (self.numel,), (1,), False, OrderedDict()))


def _crafted(path: Path, declared: int, record: bytes, compress: int = zipfile.ZIP_STORED) -> Path:
    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):  # type: ignore[no-untyped-def]
            return ("storage", torch.FloatStorage, "0", "cpu", declared) if isinstance(obj, _Storage) else None

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump({"w": _Tensor(declared)})
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", buf.getvalue(), compress_type=zipfile.ZIP_STORED)
        z.writestr("archive/data/0", record, compress_type=compress)
        z.writestr("archive/version", "3\n")
    return path


def test_a_tensor_larger_than_its_record_is_refused_before_allocating(tmp_path: Path) -> None:
    path = _crafted(tmp_path / "big.pth", declared=1 << 28, record=b"\0" * 16)  # 1 GiB declared, 16 bytes held
    code = (
        "import sys; from zoo.checkpoints import load_state_dict\n"
        "from zoo.errors import CheckpointError\n"
        "from zoo.measure.worker import peak_rss_kb\n"
        f"try:\n    load_state_dict({str(path)!r})\nexcept CheckpointError as e:\n    print(e)\n"
        "print(peak_rss_kb() / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert "declares 1073741824 bytes but its record holds 16" in out[0]
    assert float(out[1]) < 600, out  # torch itself is ~300 MB; nothing near the declared GiB


def test_a_compressed_record_is_refused(tmp_path: Path) -> None:
    path = _crafted(tmp_path / "bomb.pth", declared=4, record=b"\0" * 16, compress=zipfile.ZIP_DEFLATED)
    with pytest.raises(CheckpointError, match="corrupt or crafted"):
        read_checkpoint(path)


def test_a_well_formed_crafted_file_still_loads_as_data(tmp_path: Path) -> None:
    path = _crafted(tmp_path / "ok.pth", declared=4, record=b"\0" * 16)
    assert torch.equal(load_state_dict(path)["w"], torch.zeros(4))
