"""ARM parity without a board: run an ncnn model through the aarch64 ncnn wheel under qemu-user.

A Raspberry Pi 5 runs ncnn's NEON kernels, with fp16 arithmetic and int8 dot products, that an x86
machine never executes. ``QEMU_CPU=cortex-a76`` exposes the Pi 5's CPU features (asimdhp, asimddp;
no SVE, i8mm or bf16), so the aarch64 ncnn wheel takes the same code paths as on the board, and its
outputs can be compared with x86 ncnn's on the same inputs. Use this for numerics only: emulation is
hundreds of times slower than the board.

The emulated Python lives in an "ARM root": Debian's arm64 python3.11 and its libraries unpacked
with ``dpkg-deb -x``, plus the aarch64 ncnn and numpy wheels unzipped into its dist-packages. It is
built once per ncnn version under the zoo cache. ``scripts/setup-arm-emulation.sh`` installs
qemu-user-static, enables Debian's arm64 package lists and builds the root.

qemu's ``-L ROOT`` makes the guest look a path up under ROOT first, then on the host: model files
and the job folder are read from the host, unless the root happens to hold the same path (it
holds only /usr, /lib and /etc trees from Debian packages).
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from zoo.errors import InputError, ZooError
from zoo.numerics import cosine as cosine_of
from zoo.paths import user_cache_dir
from zoo.runtimes.ncnn import arm_worker, driver, ncnn_version
from zoo.runtimes.ncnn.param import read_param
from zoo.runtimes.ncnn.session import check_options

ARM_PYTHON = "3.11"
"""The emulated Python: Debian bookworm's python3.11, so the cp311 aarch64 wheels fit it."""

DEBIAN_PACKAGES = (
    "python3.11-minimal",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "libc6",
    "libgcc-s1",
    "libstdc++6",
    "zlib1g",
    "libexpat1",
    "libffi8",
    "libbz2-1.0",
    "liblzma5",
    "libssl3",
    "libcrypt1",
    "libuuid1",
)
"""arm64 Debian packages unpacked into the root: the interpreter and what it and the wheels link.
(The ncnn wheel bundles its libgomp and the numpy wheel its OpenBLAS.)"""

WHEEL_PLATFORM = "manylinux_2_28_aarch64"
QEMU_BINARIES = ("qemu-aarch64-static", "qemu-aarch64")
SETUP_HINT = "run scripts/setup-arm-emulation.sh"
_MARKER = "zoo-arm-root.json"
_WORKER = Path(arm_worker.__file__).resolve()


class ArmEmulationError(ZooError):
    """ARM emulation is unavailable (no qemu, no ARM root) or the emulated run failed."""


class ArmRoot(BaseModel):
    """A prepared folder with an arm64 Python that imports ncnn and numpy under qemu-user."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Path = Field(description="The root folder, passed to qemu as -L (the guest's /).")
    ncnn_version: str = Field(description="Version of the aarch64 ncnn wheel inside.")
    numpy_version: str = Field(description="Version of the aarch64 numpy wheel inside.")
    python_version: str = Field(description="Version of the arm64 Debian python3 inside.")

    @property
    def python(self) -> Path:
        return self.path / "usr" / "bin" / f"python{ARM_PYTHON}"

    @classmethod
    def open(cls, path: Path) -> ArmRoot:
        """Read a finished root; a folder without its marker is not one. (The marker holds the
        versions only: the folder is built under a temporary name and renamed.)"""
        marker = Path(path) / _MARKER
        try:
            versions = json.loads(marker.read_text(encoding="utf-8"))
            return cls.model_validate({**versions, "path": Path(path)})
        except (OSError, ValueError) as err:
            raise ArmEmulationError(
                f"{path} is not a finished ARM root ({err.__class__.__name__}); {SETUP_HINT}"
            ) from err

    def command(self, *args: str | Path) -> list[str]:
        """The host command line running ``python3.11 -I args...`` on the emulated CPU."""
        return [str(find_qemu()), "-L", str(self.path), str(self.python), "-I", *map(str, args)]


class ArmParity(BaseModel):
    """How x86 ncnn and emulated-ARM ncnn outputs differ on the same model and inputs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpu: str = Field(description="The emulated CPU (QEMU_CPU), e.g. cortex-a76 for a Raspberry Pi 5.")
    ncnn_version: str = Field(description="ncnn version on both sides (the same release by construction).")
    options: dict[str, bool] | None = Field(
        description="ncnn.Option flags set on both sides; null means ncnn's defaults (fp16 on where the CPU has it)."
    )
    effective_options: dict[str, bool] = Field(
        default_factory=dict,
        description="Option flags the ARM net ran with, as read back from ncnn.Option.",
    )
    arm_cpu_features: dict[str, bool] = Field(
        default_factory=dict,
        description="CPU features ncnn detected inside the emulator (asimdhp = fp16 arithmetic).",
    )
    threads: int = Field(1, description="ncnn threads on both sides.")
    n_inputs: int = Field(description="Number of inputs compared.")
    outputs: list[str] = Field(description="Output blob names compared.")
    max_abs_diff: float = Field(description="Largest |x86 - arm| over every element of every output and input.")
    mean_abs_diff: float = Field(description="Mean |x86 - arm| over every element of every output and input.")
    max_ref_abs: float = Field(description="Largest |x86| value, the scale max_abs_diff is relative to.")
    cosine: float = Field(description="Smallest cosine similarity between x86 and arm over all (input, output) pairs.")
    agreement: dict[str, float] = Field(
        default_factory=dict,
        description="The task's agreement of the two sides' results (e.g. top1_agreement), "
        "computed by running the task's post-processing on each side's outputs.",
    )
    bit_exact: bool = Field(description="Every output element identical on both sides.")
    emulation_seconds: float | None = Field(
        None, description="Wall time of the one emulator process (startup, load, every input)."
    )


# --------------------------------------------------------------------------------------------
# Platform and qemu


def emulation_unsupported_reason() -> str | None:
    """Why this host can't run the aarch64 root at all, or None when it can (given setup)."""
    if sys.platform != "linux":
        return f"ARM emulation needs Linux with qemu-user; this is {sys.platform}"
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64"):
        return f"ARM emulation is set up for x86_64 hosts; this is {machine}"
    return None


def find_qemu() -> Path:
    """The qemu-user binary for aarch64 guests, or a one-line error naming the setup script."""
    reason = emulation_unsupported_reason()
    if reason:
        raise ArmEmulationError(reason)
    for name in QEMU_BINARIES:
        found = shutil.which(name)
        if found:
            return Path(found)
    raise ArmEmulationError(f"qemu-aarch64-static is not installed (needed to emulate ARM); {SETUP_HINT}")


# --------------------------------------------------------------------------------------------
# Building the root


def _zoo_cache_dir() -> Path:
    """``$ZOO_ARM_CACHE``, else the per-user zoo cache. Deliberately not ``$ZOO_CACHE``: tests
    point that at a temporary folder, and the 126 MB emulation root is a machine-wide tool built
    once by scripts/setup-arm-emulation.sh, not per-test data."""
    env = os.environ.get("ZOO_ARM_CACHE")
    return Path(env) if env else user_cache_dir()


def _ncnn_version() -> str:
    version = ncnn_version()
    if version == "unknown":
        raise ArmEmulationError("the ncnn Python package is not installed in this environment")
    return version


def _tail(text: str, lines: int = 3, width: int = 400) -> str:
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()][-lines:]
    joined = " | ".join(kept)
    return joined if len(joined) <= width else "..." + joined[-width:]


def _run_step(
    what: str, cmd: Sequence[str | Path], *, hint: str = "", **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, check=False, **kwargs)
    except FileNotFoundError as err:
        raise ArmEmulationError(f"{what}: {err.filename} not found{hint}") from err
    if done.returncode != 0:
        raise ArmEmulationError(f"{what} failed: {_tail(done.stderr or done.stdout)}{hint}")
    return done


def _download_debs(dest: Path) -> list[Path]:
    hint = f"; {SETUP_HINT} (it enables Debian's arm64 package lists)"
    _run_step(
        "apt-get download of the arm64 Python",
        ["apt-get", "download", "-q", *(f"{pkg}:arm64" for pkg in DEBIAN_PACKAGES)],
        cwd=dest,
        hint=hint,
    )
    debs = sorted(dest.glob("*.deb"))
    if len(debs) != len(DEBIAN_PACKAGES):
        raise ArmEmulationError(f"apt-get download wrote {len(debs)} of {len(DEBIAN_PACKAGES)} packages{hint}")
    return debs


def _download_wheels(dest: Path, ncnn_version: str) -> list[Path]:
    pins = [f"ncnn=={ncnn_version}"]
    try:
        pins.append(f"numpy=={metadata.version('numpy')}")
    except metadata.PackageNotFoundError:
        pins.append("numpy")
    base = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
    base += ["--platform", WHEEL_PLATFORM, "--python-version", ARM_PYTHON, "-d", str(dest)]
    _run_step("pip download of the aarch64 ncnn and numpy wheels", [*base, *pins])
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 2:
        raise ArmEmulationError(f"pip download wrote {len(wheels)} wheels, expected ncnn and numpy")
    return wheels


def _probe_root(path: Path) -> dict[str, str]:
    probe = (
        "import json, platform, numpy, ncnn; print(json.dumps({'ncnn_version': ncnn.__version__,"
        " 'numpy_version': numpy.__version__, 'python_version': platform.python_version()}))"
    )
    qemu = find_qemu()
    cmd: list[str | Path] = [
        qemu,
        "-L",
        path,
        path / "usr" / "bin" / f"python{ARM_PYTHON}",
        "-I",
        "-c",
        probe,
    ]
    done = _run_step("the emulated Python's smoke test", cmd, env=_guest_env("cortex-a76", 1), timeout=300)
    versions: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return versions


def _build_root(tmp: Path, ncnn_version: str) -> ArmRoot:
    import zipfile

    downloads = tmp / ".downloads"
    downloads.mkdir()
    for deb in _download_debs(downloads):
        _run_step(f"unpacking {deb.name}", ["dpkg-deb", "-x", deb, tmp])
    site = tmp / "usr" / "lib" / "python3" / "dist-packages"
    site.mkdir(parents=True, exist_ok=True)
    for wheel in _download_wheels(downloads, ncnn_version):
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
    shutil.rmtree(downloads)
    for unused in ("usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/lintian"):
        shutil.rmtree(tmp / unused, ignore_errors=True)
    versions = _probe_root(tmp)
    if versions["ncnn_version"] != ncnn_version:
        raise ArmEmulationError(f"the aarch64 ncnn reports {versions['ncnn_version']}, expected {ncnn_version}")
    root = ArmRoot(path=tmp, **versions)
    (tmp / _MARKER).write_text(root.model_dump_json(indent=2, exclude={"path"}), encoding="utf-8")
    return root


def ensure_arm_root(cache_dir: Path | None = None) -> Path:
    """The ARM root for this environment's ncnn version, built once under the zoo cache.

    ``<cache>/arm64-root/<ncnn version>``, where the cache is ``$ZOO_ARM_CACHE`` (else
    ``$XDG_CACHE_HOME/zoo`` or ``~/.cache/zoo``; never ``$ZOO_CACHE``, see ``_zoo_cache_dir``). It is built in a temporary sibling folder and renamed into place only once
    its emulated Python has imported ncnn and numpy, so a failed or interrupted setup never leaves
    a half root. Needs qemu-user and Debian's arm64 package lists
    (``scripts/setup-arm-emulation.sh`` provides both).
    """
    ncnn_version = _ncnn_version()
    parent = Path(cache_dir) if cache_dir is not None else _zoo_cache_dir()
    parent = parent / "arm64-root"
    target = parent / ncnn_version
    if (target / _MARKER).is_file():
        return target
    find_qemu()
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{ncnn_version}.partial-", dir=parent))
    try:
        os.chmod(tmp, 0o755)  # apt-get download runs as the _apt user where it can
        _build_root(tmp, ncnn_version)
        if target.exists() and not (target / _MARKER).is_file():
            shutil.rmtree(target)  # a folder left by something else; never one of ours
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / _MARKER).is_file():  # lost a race to a concurrent build: use theirs
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _warm_bytecode(target)
    return target


def _warm_bytecode(path: Path) -> None:
    """Import once in place so the stdlib and numpy .pyc files exist: saves seconds per start."""
    root = ArmRoot.open(path)
    subprocess.run(
        root.command("-c", "import numpy, ncnn"),
        env=_guest_env("cortex-a76", 1),
        capture_output=True,
        check=False,
        timeout=300,
    )


# --------------------------------------------------------------------------------------------
# Running


def _guest_env(cpu: str, threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "QEMU_", "OMP_"))}
    env["QEMU_CPU"] = cpu
    env["OMP_NUM_THREADS"] = str(threads)
    env.setdefault("LANG", "C.UTF-8")
    return env


def parse_param_blobs(param: Path) -> tuple[list[str], list[str]]:
    """(input blob names, output blob names) of a .param file, by the project's strict parser."""
    graph = read_param(Path(param))
    return graph.input_names, graph.output_names


def _check_inputs(param: Path, inputs_list: Sequence[Mapping[str, np.ndarray]]) -> None:
    if not inputs_list:
        raise InputError("no inputs to run")
    input_names, _ = parse_param_blobs(param)
    for index, inputs in enumerate(inputs_list):
        if not inputs:
            raise InputError(f"input {index} is empty; give blob name -> array, e.g. {{'in0': x}}")
        for blob, array in inputs.items():
            if blob not in input_names:
                raise InputError(f"input {index}: {param.name} has no input blob {blob!r}; its inputs: {input_names}")
            shape = np.shape(array)
            if len(shape) < 2 or len(shape) > 5 or shape[0] != 1:
                raise InputError(f"input {index}, {blob}: expected batch 1 and up to 4 more axes, got shape {shape}")


def _resolve_outputs(param: Path, output_names: Sequence[str] | None) -> list[str]:
    names = list(output_names) if output_names is not None else parse_param_blobs(param)[1]
    if not names:
        raise InputError(f"{param}: no output blobs found; pass output_names")
    return names


def run_ncnn_on_arm_batch(
    param: Path,
    bin: Path,
    inputs_list: Sequence[Mapping[str, np.ndarray]],
    *,
    cpu: str = "cortex-a76",
    options: Mapping[str, bool] | None = None,
    threads: int = 1,
    timeout: float = 600,
    output_names: Sequence[str] | None = None,
    root: Path | None = None,
) -> tuple[list[dict[str, np.ndarray]], dict[str, Any]]:
    """Run every input through the model in ONE emulator process (the net loads once).

    ``timeout`` is seconds per input: the process gets ``timeout * len(inputs_list)``. Emulated
    fp16 arithmetic (ncnn's defaults on cortex-a76) is several times slower than fp32: a
    ResNet-18 inference took 4-30 s with fp16 off and up to 100 s with defaults on a busy
    two-core host.

    Returns the outputs per input (batch dim restored) and what the worker reported: ncnn version,
    Option flags in effect, CPU features, and ``emulation_seconds``.
    """
    param, bin = Path(param).resolve(), Path(bin).resolve()
    for path in (param, bin):
        if not path.is_file():
            raise InputError(f"{path}: no such file")
    checked = check_options(options)
    names = _resolve_outputs(param, output_names)
    _check_inputs(param, inputs_list)
    arm_root = ArmRoot.open(root if root is not None else ensure_arm_root())

    with tempfile.TemporaryDirectory(prefix="zoo-arm-") as work_dir:
        work = Path(work_dir)
        files = []
        for index, inputs in enumerate(inputs_list):
            entry = {}
            for position, (blob, array) in enumerate(inputs.items()):
                filename = f"in_{index}_{position}.npy"
                np.save(
                    work / filename,
                    driver.to_ncnn_array(array)[np.newaxis],
                    allow_pickle=False,
                )
                entry[blob] = filename
            files.append(entry)
        job = {"param": str(param), "bin": str(bin), "options": checked, "threads": threads,
               "output_names": names, "inputs": files}  # fmt: skip
        (work / "job.json").write_text(json.dumps(job), encoding="utf-8")

        limit = timeout * len(inputs_list)
        started = time.perf_counter()
        try:
            done = subprocess.run(
                arm_root.command(_WORKER, work / "job.json"),
                env=_guest_env(cpu, threads),
                capture_output=True,
                text=True,
                timeout=limit,
                check=False,
            )
        except subprocess.TimeoutExpired as err:
            raise ArmEmulationError(
                f"the emulated ncnn run ({cpu}, {len(inputs_list)} inputs) took over {limit:g} s "
                f"({timeout:g} s per input); raise timeout"
            ) from err
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            how = f"exit {done.returncode}"
            if done.returncode < 0:
                how = f"killed by {signal.Signals(-done.returncode).name}"
            raise ArmEmulationError(
                f"the emulated ncnn run ({cpu}) failed ({how}): {_tail(done.stderr) or 'no output'}"
            )
        result = json.loads((work / "result.json").read_text(encoding="utf-8"))
        outputs = [
            {blob: np.load(work / filename, allow_pickle=False) for blob, filename in entry.items()}
            for entry in result["outputs"]
        ]
    info = dict(result["info"], emulation_seconds=seconds)
    return outputs, info


def run_ncnn_on_arm(
    param: Path,
    bin: Path,
    inputs: Mapping[str, np.ndarray],
    *,
    cpu: str = "cortex-a76",
    options: Mapping[str, bool] | None = None,
    threads: int = 1,
    timeout: float = 600,
    output_names: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Run one input (blob name -> NCHW batch-1 array) on the emulated CPU; outputs by blob name."""
    outputs, _ = run_ncnn_on_arm_batch(
        param,
        bin,
        [inputs],
        cpu=cpu,
        options=options,
        threads=threads,
        timeout=timeout,
        output_names=output_names,
    )
    return outputs[0]


def run_ncnn_on_x86(
    param: Path,
    bin: Path,
    inputs_list: Sequence[Mapping[str, np.ndarray]],
    *,
    options: Mapping[str, bool] | None = None,
    threads: int = 1,
    output_names: Sequence[str] | None = None,
) -> list[dict[str, np.ndarray]]:
    """The same run through this environment's ncnn, with the same driver code as the ARM worker."""
    param, bin = Path(param).resolve(), Path(bin).resolve()
    checked = check_options(options)
    names = _resolve_outputs(param, output_names)
    _check_inputs(param, inputs_list)
    try:
        net = driver.new_net(str(param), str(bin), checked, threads)
        return [driver.run(net, inputs, names) for inputs in inputs_list]
    except driver.NetError as err:
        raise InputError(f"x86 ncnn run of {param.name} failed: {err}") from err


# --------------------------------------------------------------------------------------------
# Comparing


def compare_outputs(
    x86: Mapping[str, np.ndarray] | Sequence[Mapping[str, np.ndarray]],
    arm: Mapping[str, np.ndarray] | Sequence[Mapping[str, np.ndarray]],
    *,
    cpu: str = "cortex-a76",
    options: Mapping[str, bool] | None = None,
    ncnn_version: str | None = None,
    threads: int = 1,
    effective_options: Mapping[str, bool] | None = None,
    arm_cpu_features: Mapping[str, bool] | None = None,
    emulation_seconds: float | None = None,
) -> ArmParity:
    """Compare outputs of one input (a dict blob -> array) or of many (a list of such dicts)."""
    x86_list = [x86] if isinstance(x86, Mapping) else list(x86)
    arm_list = [arm] if isinstance(arm, Mapping) else list(arm)
    if len(x86_list) != len(arm_list) or not x86_list:
        raise InputError(f"cannot compare {len(x86_list)} x86 results with {len(arm_list)} ARM results")
    names = list(x86_list[0])
    abs_sum, count, max_abs, max_ref, cosine = 0.0, 0, 0.0, 0.0, 1.0
    bit_exact = True
    for index, (ref, got) in enumerate(zip(x86_list, arm_list, strict=True)):
        if set(ref) != set(got) or list(ref) != names:
            raise InputError(f"input {index}: x86 outputs {sorted(ref)} vs ARM outputs {sorted(got)}")
        for name in names:
            a, b = np.asarray(ref[name]), np.asarray(got[name])
            if a.shape != b.shape:
                raise InputError(f"input {index}, output {name}: x86 shape {a.shape} vs ARM shape {b.shape}")
            diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
            if diff.size:
                max_abs = max(max_abs, float(diff.max()))
                max_ref = max(max_ref, float(np.abs(a).max()))
                abs_sum += float(diff.sum())
                count += diff.size
            if np.isnan(diff).any():
                max_abs = math.nan
            bit_exact = bit_exact and bool(np.array_equal(a, b))
            cosine = min(cosine, cosine_of(a, b))
    return ArmParity(
        cpu=cpu,
        ncnn_version=ncnn_version or _ncnn_version(),
        options=dict(options) if options is not None else None,
        effective_options=dict(effective_options or {}),
        arm_cpu_features=dict(arm_cpu_features or {}),
        threads=threads,
        n_inputs=len(x86_list),
        outputs=names,
        max_abs_diff=max_abs,
        mean_abs_diff=abs_sum / count if count else 0.0,
        max_ref_abs=max_ref,
        cosine=cosine,
        bit_exact=bit_exact,
        emulation_seconds=emulation_seconds,
    )


def run_both(
    param: Path,
    bin: Path,
    inputs_list: Sequence[Mapping[str, np.ndarray]],
    *,
    options: Mapping[str, bool] | None,
    cpu: str = "cortex-a76",
    threads: int = 1,
    timeout: float = 600,
    output_names: Sequence[str] | None = None,
) -> tuple[list[dict[str, np.ndarray]], list[dict[str, np.ndarray]], ArmParity]:
    """The same inputs through x86 ncnn (this environment) and emulated-ARM ncnn: both sides'
    outputs, and how far apart they are. The same Option flags go to both sides; ``options=None``
    keeps ncnn's defaults on both, which is where the Pi's fp16 arithmetic shows."""
    x86 = run_ncnn_on_x86(param, bin, inputs_list, options=options, threads=threads, output_names=output_names)
    arm, info = run_ncnn_on_arm_batch(
        param, bin, inputs_list, cpu=cpu, options=options, threads=threads, timeout=timeout, output_names=output_names
    )
    if info["ncnn_version"] != _ncnn_version():
        raise ArmEmulationError(f"ARM ncnn {info['ncnn_version']} differs from x86 ncnn {_ncnn_version()}")
    parity = compare_outputs(
        x86,
        arm,
        cpu=cpu,
        options=options,
        ncnn_version=info["ncnn_version"],
        threads=threads,
        effective_options=info["effective_options"],
        arm_cpu_features=info["cpu_features"],
        emulation_seconds=info["emulation_seconds"],
    )
    return x86, arm, parity


def verify_arm(
    param: Path,
    bin: Path,
    inputs_list: Sequence[Mapping[str, np.ndarray]],
    *,
    options: Mapping[str, bool] | None,
    cpu: str = "cortex-a76",
    threads: int = 1,
    timeout: float = 600,
    output_names: Sequence[str] | None = None,
) -> ArmParity:
    """How far emulated-ARM ncnn is from x86 ncnn on the same model and inputs (see run_both)."""
    return run_both(param, bin, inputs_list, options=options, cpu=cpu, threads=threads, timeout=timeout,
                    output_names=output_names)[2]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m zoo.verify.arm ensure-root``: build (or find) the ARM root and print its path."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args != ["ensure-root"]:
        print("usage: python -m zoo.verify.arm ensure-root", file=sys.stderr)
        return 2
    try:
        print(ensure_arm_root())
    except ZooError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
