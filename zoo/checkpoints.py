"""Checkpoint reading that never runs code from the file, shared by every plugin (torch side).

A PyTorch checkpoint is a zip holding a pickle (``data.pkl``) and one raw record per tensor
storage (``data/<key>``). zoo reads it itself instead of ``torch.load``:

- A zip holding TorchScript (``constants.pkl`` or ``code/``) is a compiled program, not weights:
  ``torch.load`` hands such files to ``torch.jit.load``, whose ``__setstate__`` can write files
  anywhere (``torch.from_file(..., shared=True)``). zoo refuses them before anything is read.
- The pickle is read by ``RestrictedUnpickler``: tensor rebuilders, plain containers, torch
  dtypes/sizes and numeric NumPy scalars resolve to real objects; anything else is either
  refused (``load_state_dict``: a state dict names no classes) or becomes an inert placeholder
  that only records its arguments and state (``read_checkpoint(allow_objects=True)``: pickled
  modules such as Ultralytics', whose state dict is then read out of the placeholders).
- Every storage is built from the bytes its record really holds: a file declaring a 1 GiB
  tensor in a 1 MB record is refused before anything is allocated; compressed records (a zip
  bomb) are refused. Empty, truncated and non-checkpoint files each get their own one-line reason.
- torch's legacy (non-zip) format is read the same way: ``torch.save(...,
  _use_new_zipfile_serialization=False)`` is what mmpose's ``publish_model`` writes, so published
  mmpose/OpenMMLab checkpoints are legacy files. Four pickles (magic number, protocol, system info,
  the object) then the storage keys and each storage's bytes; every storage the object declares
  must fit in the file before it is allocated, and each record must hold exactly what was declared.
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoo.deps import require
from zoo.errors import CheckpointError, InputError

_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"  # pickle of torch's 0x1950a86a20f9469cfc6c
MAX_PICKLE_BYTES = 256 << 20


class Inert:
    """Stands in for any class a checkpoint names that is not on the allow-list.

    Creating, calling or restoring one runs no code of the named class: it only stores what the
    pickle passes (arguments, state, list and dict items) for the loader to read.
    """

    origin = "?"
    zoo_args: tuple[Any, ...]
    zoo_state: Any
    zoo_items: list[Any]
    zoo_dict: dict[Any, Any]

    def __new__(cls, *args: Any, **kwargs: Any) -> Inert:
        obj = object.__new__(cls)
        obj.__dict__.update(zoo_args=args, zoo_state=None, zoo_items=[], zoo_dict={})
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.__dict__["zoo_state"] = state

    def append(self, item: Any) -> None:
        self.zoo_items.append(item)

    def extend(self, items: Any) -> None:
        self.zoo_items.extend(items)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.zoo_dict[key] = value

    def __repr__(self) -> str:
        return f"<inert {self.origin}>"


_INERT_TYPES: dict[tuple[str, str], type[Inert]] = {}


def _inert(module: str, name: str) -> type[Inert]:
    key = (module, name)
    if key not in _INERT_TYPES:
        _INERT_TYPES[key] = type(f"Inert[{module}.{name}]", (Inert,), {"origin": f"{module}.{name}"})
    return _INERT_TYPES[key]


class _Refused(Exception):
    """A state-dict pickle named a class (caught and turned into one CheckpointError line)."""


def _refused(path: Path, err: _Refused) -> CheckpointError:
    return CheckpointError(
        f"{path}: refused to unpickle: the file names the class {err} (only plain tensor checkpoints are "
        "read, never code); re-save it as a state_dict"
    )


def _numpy_scalar(dtype: Any, data: bytes | None = None) -> Any:
    """numpy.core.multiarray.scalar for numeric dtypes only (a scalar from its raw bytes)."""
    import numpy as np

    if not isinstance(dtype, np.dtype) or dtype.kind not in "biufc" or not isinstance(data, bytes):
        raise pickle.UnpicklingError("only numeric NumPy scalars are read")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _numpy_reconstruct(cls: Any, shape: Any, dtype_code: Any) -> Any:
    """numpy.core.multiarray._reconstruct for plain ndarrays (then filled by ndarray.__setstate__,
    which checks the data against shape and dtype): the NumPy arrays mmpose/mmengine metadata holds."""
    import numpy as np

    if cls is not np.ndarray:
        raise pickle.UnpicklingError("only plain NumPy arrays are read")
    return np.ndarray.__new__(np.ndarray, shape, np.uint8)


def _numpy_dtype(name: Any, *args: Any) -> Any:
    import numpy as np

    dtype = np.dtype(name)
    if dtype.kind not in "biufc":
        raise pickle.UnpicklingError(f"NumPy dtype {dtype} is not numeric")
    return dtype


def _latin1_encode(text: Any, encoding: str = "utf-8") -> bytes:
    """_codecs.encode as protocol-2 pickles use it (raw bytes carried as latin-1 text), nothing else."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is read for latin-1 bytes only")
    return text.encode("latin-1")


def _safe_globals() -> dict[tuple[str, str], Any]:
    import torch

    allowed: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "slice"): slice,
        ("torch", "Size"): torch.Size,
        ("torch", "device"): torch.device,
        ("copyreg", "_reconstructor"): _reconstructor,
        ("numpy.core.multiarray", "scalar"): _numpy_scalar,
        ("numpy._core.multiarray", "scalar"): _numpy_scalar,
        ("numpy", "dtype"): _numpy_dtype,
        ("numpy", "ndarray"): __import__("numpy").ndarray,
        ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
        ("_codecs", "encode"): _latin1_encode,
    }
    for name in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
                 "_rebuild_parameter_with_state"):  # fmt: skip
        if hasattr(torch._utils, name):
            allowed[("torch._utils", name)] = getattr(torch._utils, name)
    return allowed


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """copyreg._reconstructor (pickle protocol < 2) without calling base.__new__ on unknown classes."""
    if not (isinstance(cls, type) and issubclass(cls, Inert)):
        raise pickle.UnpicklingError("copyreg._reconstructor of a class that is not inert")
    obj = cls.__new__(cls)
    if state is not None:
        obj.__setstate__(state)
    return obj


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler whose ``find_class`` never imports: allow-listed globals, else an inert
    placeholder (``allow_objects``) or a refusal."""

    def __init__(self, file: Any, *, allow_objects: bool, persistent_load: Any = None) -> None:
        super().__init__(file)
        self.allow_objects = allow_objects
        self.named: list[str] = []
        if persistent_load is not None:
            self.persistent_load = persistent_load  # type: ignore[method-assign]

    def find_class(self, module: str, name: str) -> Any:
        import _compat_pickle

        import torch

        if (module, name) in _compat_pickle.NAME_MAPPING:  # Python 2 names (protocol-2 pickles)
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        allowed = _safe_globals()
        if (module, name) in allowed:
            return allowed[(module, name)]
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if module == "torch" and name.endswith("Storage") and isinstance(getattr(torch, name, None), type):
            return getattr(torch, name)  # a storage type: read for its dtype only (persistent_load)
        self.named.append(f"{module}.{name}")
        if not self.allow_objects:
            raise _Refused(f"{module}.{name}")
        return _inert(module, name)


def _describe_non_zip(path: Path, head: bytes) -> str:
    if not head:
        return "is empty"
    if head[:1] == b"\x80":
        return "is a bare pickle, not a PyTorch zip checkpoint; re-save it with torch.save"
    if head.startswith(b"PK"):
        return "is a damaged zip (truncated?); download it again"
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head[:64]):
        return "is a text file, not a PyTorch checkpoint"
    return "is not a PyTorch checkpoint (not a zip archive)"


def read_checkpoint(path: str | Path, *, allow_objects: bool = False) -> Any:
    """The object pickled in the zip checkpoint at ``path``, read without running its code.

    ``allow_objects`` turns the classes it names into inert placeholders; otherwise any class
    other than tensors and plain containers is refused (a state dict names none)."""
    torch = require("torch", "export", "to load PyTorch checkpoints")
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint file; pass --weights PATH to an existing file")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(64)
    if _is_legacy(head):
        return _read_legacy(path, size, allow_objects)
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path}: {_describe_non_zip(path, head)}")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(f"{path}: is a damaged zip ({err}); download it again") from err
    with archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            raise CheckpointError(
                f"{path}: is a TorchScript archive (a compiled program), not a checkpoint; zoo never runs "
                "those — pass a state_dict saved with torch.save(model.state_dict(), PATH)"
            )
        if len(pickles) != 1:
            raise CheckpointError(f"{path}: a PyTorch checkpoint holds one data.pkl, this zip holds {len(pickles)}")
        prefix = pickles[0][: -len("data.pkl")]
        info = archive.getinfo(pickles[0])
        if info.file_size > min(MAX_PICKLE_BYTES, 2 * size + (1 << 20)):
            raise CheckpointError(f"{path}: its pickle declares {info.file_size} bytes; refused")
        storages: dict[str, Any] = {}

        def persistent_load(pid: Any) -> Any:
            if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] in ("storage", b"storage")):
                raise pickle.UnpicklingError(f"unexpected persistent id {str(pid)[:60]}")
            _, storage_type, key, _location, numel = pid
            key = key.decode("ascii") if isinstance(key, bytes) else str(key)
            with warnings.catch_warnings():  # legacy storage classes warn on any use; only the dtype is read
                warnings.simplefilter("ignore")
                dtype = torch.uint8 if storage_type is torch.UntypedStorage else getattr(storage_type, "dtype", None)
            if not isinstance(dtype, torch.dtype) or not isinstance(numel, int) or numel < 0:
                raise pickle.UnpicklingError("a storage of unknown type")
            if key in storages:
                return storages[key]
            record = f"{prefix}data/{key}"
            try:
                rinfo = archive.getinfo(record)
            except KeyError:
                raise pickle.UnpicklingError(f"storage {key!r} has no record in the archive") from None
            elem = torch.empty((), dtype=dtype).element_size()
            want = numel * elem if storage_type is not torch.UntypedStorage else numel
            if rinfo.compress_type != zipfile.ZIP_STORED or rinfo.file_size != want or rinfo.file_size > size:
                raise _Bounds(key, want, rinfo.file_size)
            data = bytearray(archive.read(record))
            untyped = torch.frombuffer(data, dtype=torch.uint8).untyped_storage() if data else torch.UntypedStorage(0)
            typed = torch.storage.TypedStorage(wrap_storage=untyped, dtype=dtype, _internal=True)
            storages[key] = typed
            return typed

        try:
            with archive.open(pickles[0]) as member:
                unpickler = RestrictedUnpickler(member, allow_objects=allow_objects, persistent_load=persistent_load)
                return unpickler.load()
        except _Refused as err:
            raise _refused(path, err) from None
        except _Bounds as err:
            raise CheckpointError(
                f"{path}: tensor storage {err.key!r} declares {err.want} bytes but its record holds {err.have}; "
                "the file is corrupt or crafted"
            ) from None
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
                RuntimeError, OverflowError, MemoryError, zipfile.BadZipFile, UnicodeDecodeError, OSError,
                NotImplementedError, zipfile.LargeZipFile) as err:  # fmt: skip
            text = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise CheckpointError(f"{path}: a corrupt PyTorch checkpoint ({type(err).__name__}: {text[:160]})") from None


LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


def _is_legacy(head: bytes) -> bool:
    """torch's legacy format starts with the pickled magic number (protocol 2, LONG1 of 10 bytes)."""
    return head[:2] == _LEGACY_MAGIC[:2] and _LEGACY_MAGIC[2:] in head[:32]


def _read_legacy(path: Path, size: int, allow_objects: bool) -> Any:
    """A legacy (non-zip) torch checkpoint, read with the restricted unpickler, every storage
    bounded by the file's size and filled from exactly the bytes its record declares."""
    import torch

    declared: dict[str, tuple[Any, int, bytearray]] = {}  # key → (dtype, numel, the storage's buffer)
    total = 0

    def persistent_load(pid: Any) -> Any:
        nonlocal total
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] in ("storage", b"storage")):
            raise pickle.UnpicklingError(f"unexpected persistent id {str(pid)[:60]}")
        _, storage_type, key, _location, numel, view = pid
        if view is not None:
            raise pickle.UnpicklingError("storage views (torch < 1.0 files) are not read")
        key = key.decode("ascii") if isinstance(key, bytes) else str(key)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dtype = getattr(storage_type, "dtype", None)
        if not isinstance(dtype, torch.dtype) or not isinstance(numel, int) or numel < 0:
            raise pickle.UnpicklingError("a storage of unknown type")
        if key not in declared:
            nbytes = numel * torch.empty((), dtype=dtype).element_size()
            total += nbytes
            if total > size:  # before allocating: the file cannot hold what it declares
                raise _Bounds(key, nbytes, size)
            declared[key] = (dtype, numel, bytearray(nbytes))
        dtype_, numel_, data = declared[key]
        if (dtype_, numel_) != (dtype, numel):
            raise pickle.UnpicklingError(f"storage {key!r} declared twice with different types or sizes")
        untyped = torch.frombuffer(data, dtype=torch.uint8).untyped_storage() if data else torch.UntypedStorage(0)
        return torch.storage.TypedStorage(wrap_storage=untyped, dtype=dtype, _internal=True)

    def plain(fh: Any) -> Any:
        return RestrictedUnpickler(fh, allow_objects=False).load()

    try:
        with open(path, "rb") as fh:
            if plain(fh) != LEGACY_MAGIC_NUMBER or plain(fh) != LEGACY_PROTOCOL:
                raise CheckpointError(f"{path}: a legacy torch file of an unknown protocol; re-save it with torch.save")
            info = plain(fh)
            if not isinstance(info, dict) or info.get("little_endian") is not True:
                raise CheckpointError(f"{path}: a big-endian legacy torch file; re-save it on a little-endian machine")
            obj = RestrictedUnpickler(fh, allow_objects=allow_objects, persistent_load=persistent_load).load()
            keys = plain(fh)
            if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(declared):
                raise pickle.UnpicklingError("the storage list does not match the storages the object uses")
            for key in keys:
                dtype, numel, data = declared[str(key)]
                head = fh.read(8)
                if len(head) != 8 or int.from_bytes(head, "little", signed=True) != numel:
                    raise _Bounds(str(key), numel, int.from_bytes(head, "little", signed=True) if len(head) == 8 else 0)
                if fh.readinto(memoryview(data)) != len(data):
                    raise EOFError(f"storage {key!r} is cut short")
            return obj
    except _Refused as err:
        raise _refused(path, err) from None
    except _Bounds as err:
        raise CheckpointError(
            f"{path}: tensor storage {err.key!r} declares {err.want} elements or bytes the file does not hold "
            f"({err.have}); the file is corrupt or crafted"
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            RuntimeError, OverflowError, MemoryError, UnicodeDecodeError) as err:  # fmt: skip
        text = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(f"{path}: a corrupt legacy PyTorch checkpoint ({type(err).__name__}: {text[:160]})") from None


class _Bounds(Exception):
    def __init__(self, key: str, want: int, have: int) -> None:
        super().__init__(key)
        self.key, self.want, self.have = key, want, have


def load_state_dict(path: str | Path, *, key: str | None = None) -> dict[str, Any]:
    """Read a tensor dict from ``path`` without running pickled code.

    ``key`` picks a nested dict (e.g. 'model' or 'state_dict') when upstream wraps the weights.
    """
    obj = read_checkpoint(path, allow_objects=False)
    if key is not None and isinstance(obj, Mapping) and key in obj:
        obj = obj[key]
    if not isinstance(obj, Mapping) or not all(isinstance(k, str) for k in obj):
        raise CheckpointError(f"{path}: expected a dict of tensors (a state_dict), got {type(obj).__name__}")
    return dict(obj)  # load_strict names any key or shape that does not fit the model


def load_strict(module: Any, state_dict: Mapping[str, Any], source: str) -> None:
    """``module.load_state_dict(strict=True)``, with one clear line naming what does not match.

    Accepts exactly what torch's own strict load accepts: BatchNorm's ``num_batches_tracked``
    buffers may be absent (torchvision's published ResNet files predate them; torch fills them in).
    """
    expected = module.state_dict()
    missing = [k for k in expected if k not in state_dict and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state_dict if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (first: {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (first: {', '.join(unexpected[:3])})")
        raise CheckpointError(
            f"{source}: checkpoint keys do not match {type(module).__name__}: {'; '.join(parts)}; "
            "is this a checkpoint of another model?"
        )
    for name, tensor in expected.items():
        if name not in state_dict:
            continue
        got = state_dict[name]
        if tuple(getattr(got, "shape", ())) != tuple(tensor.shape):
            raise CheckpointError(
                f"{source}: tensor {name!r} has shape {tuple(got.shape)}, the model expects "
                f"{tuple(tensor.shape)}; is this a checkpoint of another variant?"
            )
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as err:  # what torch's own strict load still refuses
        raise CheckpointError(f"{source}: {str(err).splitlines()[0][:200]}") from None
