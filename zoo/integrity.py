"""File integrity: sha256 of artifacts and cached weights, computed once per file version.

Every load of an export folder (and every cache hit of a downloaded file) checks each file's size
and sha256 against what its manifest (or the registry) says. Hashing a 250 MB file on each run
would be slow on a Pi, so a digest is remembered per (path, size, mtime, inode) in
``<cache>/integrity.json``: a file that changes gets a new mtime (or size) and is hashed again.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from zoo.paths import atomic_write_text, cache_dir, sha256_file

_MAX_ENTRIES = 4096


def _store() -> Path:
    return cache_dir() / "integrity.json"


def _key(path: Path) -> tuple[str, str]:
    st = path.stat()
    return str(path.resolve()), f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


def _read() -> dict[str, list[str]]:
    try:
        data = json.loads(_store().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def file_sha256(path: Path) -> str:
    """The sha256 of ``path``, from the record when the file is unchanged since it was hashed."""
    path = Path(path)
    where, stamp = _key(path)
    known = _read().get(where)
    if isinstance(known, list) and len(known) == 2 and known[0] == stamp and isinstance(known[1], str):
        return str(known[1])
    digest = sha256_file(path)
    _remember(where, stamp, digest)
    return digest


def probed(key: str) -> bool:
    """Whether an export (by the sha256 of its manifest) was already loaded and run safely."""
    return key in set(_read().get("__probed__", []))


def remember_probed(key: str) -> None:
    data = _read()
    keys = [k for k in data.get("__probed__", []) if k != key][-(_MAX_ENTRIES - 1) :] + [key]
    data["__probed__"] = keys
    with contextlib.suppress(OSError):
        os.makedirs(_store().parent, exist_ok=True)
        atomic_write_text(_store(), json.dumps(data))


def _remember(where: str, stamp: str, digest: str) -> None:
    data = _read()
    data[where] = [stamp, digest]
    if len(data) > _MAX_ENTRIES:  # keep the newest entries (dicts keep insertion order)
        data = dict(list(data.items())[-_MAX_ENTRIES:])
    with contextlib.suppress(OSError):  # a read-only cache only costs the re-hash next time
        os.makedirs(_store().parent, exist_ok=True)
        atomic_write_text(_store(), json.dumps(data))
