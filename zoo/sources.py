"""Fetch files by URI (https://, http://, hf://, file://) into the cache, verified and atomic.

- Nothing enters the cache before its sha256 (or the sha256 prefix upstream publishes) matches.
- Downloads go to ``<cache>/downloads/<name>.part`` and resume from there with an HTTP Range
  request; only a verified file is renamed into ``<cache>/weights/``. A failed or interrupted
  download never leaves a file where a verified one would be.
- ``offline=True`` uses the cache only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from zoo.errors import ChecksumError, DownloadError, InputError
from zoo.paths import cache_dir, ensure_writable_dir, sha256_file
from zoo.specs import WeightsRef

Progress = Callable[[int, int | None], None]
"""progress(bytes_done, total_or_None)"""

CHUNK = 1 << 16


def filename_of(uri: str) -> str:
    parsed = urllib.parse.urlparse(uri.split("@")[0] if uri.startswith("hf://") else uri)
    name = Path(urllib.parse.unquote(parsed.path)).name
    return name or "download"


def cache_path(ref: WeightsRef) -> Path:
    """Where a verified copy of ``ref`` lives: keyed by its hash so two versions never collide."""
    key = ref.sha256 or ref.sha256_prefix or hashlib.sha256(ref.uri.encode()).hexdigest()[:16]
    return cache_dir() / "weights" / key[:16] / filename_of(ref.uri)


def verify(path: Path, ref: WeightsRef) -> str:
    """Return the file's sha256, or raise ChecksumError (the caller removes the file)."""
    digest = sha256_file(path)
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


def fetch(ref: WeightsRef, *, offline: bool = False, progress: Progress | None = None) -> Path:
    """Return a local, verified path for ``ref``, downloading it if needed."""
    if not (ref.sha256 or ref.sha256_prefix):
        raise DownloadError(f"{ref.uri}: the registry gives no sha256 for this file; add one so it can be verified")
    final = cache_path(ref)
    if final.is_file():
        return final
    if offline:
        raise DownloadError(
            f"{ref.uri}: not in the cache ({final}) and offline mode is on; "
            "run the same command without --offline on a connected machine first"
        )
    scheme = ref.uri.split("://", 1)[0]
    ensure_writable_dir(final.parent)
    if scheme in ("http", "https"):
        part = _download_http(ref.uri, progress)
    elif scheme == "file":
        part = _copy_file(ref.uri)
    elif scheme == "hf":
        part = _download_hf(ref.uri)
    else:  # WeightsRef validation makes this unreachable for registry entries
        raise DownloadError(f"{ref.uri}: unsupported scheme {scheme!r}")
    try:
        verify(part, ref)
    except ChecksumError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, final)
    return final


def _partial_path(uri: str) -> Path:
    key = hashlib.sha256(uri.encode()).hexdigest()[:16]
    folder = ensure_writable_dir(cache_dir() / "downloads")
    return folder / f"{key}-{filename_of(uri)}.part"


def _download_http(uri: str, progress: Progress | None) -> Path:
    part = _partial_path(uri)
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(uri, headers={"User-Agent": "zoo/0.1"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=30)
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
        total_header = response.headers.get("Content-Length")
        total = int(total_header) + (have if resumed else 0) if total_header else None
        mode = "ab" if resumed else "wb"
        done = have if resumed else 0
        try:
            with open(part, mode) as fh:
                while block := response.read(CHUNK):
                    fh.write(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
        except (OSError, urllib.error.URLError) as err:
            raise DownloadError(
                f"{uri}: interrupted after {done} bytes ({err}); run the command again to resume"
            ) from err
    if total is not None and done < total:
        raise DownloadError(f"{uri}: connection closed after {done} of {total} bytes; run the command again to resume")
    return part


def _copy_file(uri: str) -> Path:
    path = Path(urllib.request.url2pathname(urllib.parse.urlparse(uri).path))
    if not path.is_file():
        raise DownloadError(f"{uri}: no such file")
    part = _partial_path(uri)
    shutil.copyfile(path, part)
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


def _download_hf(uri: str) -> Path:
    """Through huggingface_hub (honours HF_ENDPOINT, HF_TOKEN and its own resumable cache)."""
    from zoo.deps import require

    hub = require("huggingface_hub", "hub", "to download hf:// weights")
    repo_id, filename, revision = parse_hf_uri(uri)
    try:
        local = hub.hf_hub_download(repo_id=repo_id, filename=filename, revision=revision)
    except Exception as err:  # the hub client raises many kinds; all mean "could not fetch"
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DownloadError(f"{uri}: Hugging Face download failed ({type(err).__name__}: {first[:200]})") from err
    part = _partial_path(uri)
    shutil.copyfile(local, part)
    return part
