"""Where zoo keeps things, and writing them so that a failure leaves nothing half-done."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from zoo.errors import InputError


def cache_dir() -> Path:
    """``$ZOO_CACHE``, else the user's cache (``user_cache_dir``). Relative values are taken
    from the working directory once, here, so nothing downstream depends on the cwd."""
    env = os.environ.get("ZOO_CACHE")
    return Path(os.path.abspath(env)) if env else user_cache_dir()


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/zoo``, else ``~/.cache/zoo``: the per-user cache, whatever ZOO_CACHE says
    (machine-wide tools such as the ARM emulation root live here)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.path.abspath(base)) / "zoo"


def cards_dir() -> Path:
    """``$ZOO_CARDS_DIR``, else the per-user data folder (``$XDG_DATA_HOME/zoo/cards``, else
    ``~/.local/share/zoo/cards``): the same table wherever zoo runs, and running zoo inside the
    repository never rewrites its committed cards (``make cards`` does that on purpose)."""
    env = os.environ.get("ZOO_CARDS_DIR")
    if env:
        return Path(os.path.abspath(env))
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(os.path.abspath(base)) / "zoo" / "cards"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def ensure_writable_dir(path: Path) -> Path:
    """Create ``path`` (and parents) or fail with one line that names it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".zoo-write-test-"):
            pass
    except OSError as err:
        raise InputError(f"{path}: output directory is not writable ({err.strerror}); choose another with -o") from err
    return path


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``target``; on success it replaces ``target`` in one rename.

    On any error the temporary folder is removed, so a reader never sees a half-written result.
    Temporary folders left by a killed process (``.NAME.partial-PID-*`` whose PID is gone) are
    removed on the next run. The caller decides whether an existing ``target`` may be replaced.
    """
    target = Path(os.path.abspath(target))
    parent = ensure_writable_dir(target.parent)
    remove_stale_partials(parent, target.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-{os.getpid()}-", dir=parent))
    try:
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-{os.getpid()}-", dir=parent))
            os.replace(target, old / "x")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_partials(parent: Path, name: str) -> list[Path]:
    """Remove ``.NAME.partial-PID-*`` / ``.NAME.old-PID-*`` folders whose process is gone."""
    removed = []
    for kind in ("partial", "old"):
        for path in parent.glob(f".{name}.{kind}-*"):
            pid_text = path.name.removeprefix(f".{name}.{kind}-").split("-", 1)[0]
            if not pid_text.isdigit() or _alive(int(pid_text)):
                continue
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def atomic_write_text(path: Path, text: str) -> None:
    ensure_writable_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
