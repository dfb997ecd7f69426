"""Fuzz zoo's inputs: mutated .param, .bin, export manifests, images, registry YAML and
checkpoints, each case run as a user would (a `zoo` subprocess) with a timeout and a memory cap.

Every case must end in success (rc 0) or one clean error line (`zoo: error: ...`, rc > 0) —
never a signal, a hang, a traceback or a messy error. Seeded: the same --seed gives the same
cases. Prints the counts per kind and outcome, and the cases that failed the bar.

    .venv/bin/python benchmarks/fuzz.py [--cases 40] [--seed 0] [--kinds param,bin,...] [--workers 2]

tests/security/test_fuzz.py runs it (fewer cases) in `make test`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "zoo" / "data" / "images" / "chelsea.jpg"
KINDS = ("param", "bin", "manifest", "image", "registry", "checkpoint")
TIMEOUT_S = 120.0
MEMORY_CAP = 8 << 30


@dataclass
class Case:
    kind: str
    index: int
    args: list[str]
    env: dict[str, str]
    note: str


@dataclass
class Outcome:
    case: Case
    result: str  # success | clean | signal | hang | traceback | messy
    detail: str


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_case(case: Case, cwd: Path) -> Outcome:
    env = {**os.environ, **case.env}
    try:
        proc = subprocess.run([sys.executable, "-m", "zoo.cli", *case.args], capture_output=True, text=True,
                              cwd=cwd, env=env, timeout=TIMEOUT_S, preexec_fn=_limit_memory)  # fmt: skip
    except subprocess.TimeoutExpired:
        return Outcome(case, "hang", f"no answer in {TIMEOUT_S:.0f} s")
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("note: ")]
    if proc.returncode < 0:
        return Outcome(case, "signal", f"signal {-proc.returncode}")
    if "Traceback" in proc.stderr:
        return Outcome(case, "traceback", proc.stderr.strip().splitlines()[-1][:200])
    if proc.returncode == 0:
        return Outcome(case, "success", "")
    if len(lines) == 1 and lines[0].startswith("zoo: error: "):
        return Outcome(case, "clean", lines[0][:200])
    return Outcome(case, "messy", " | ".join(lines)[:300])


# -- mutations ------------------------------------------------------------------------------------
def mutate_bytes(data: bytes, rng: random.Random, span: tuple[int, int] | None = None) -> bytes:
    """One of: flip bits, overwrite a run, truncate, insert junk, duplicate a slice."""
    b = bytearray(data)
    lo, hi = span or (0, len(b))
    hi = max(lo + 1, min(hi, len(b)))
    op = rng.choice(["flip", "run", "truncate", "insert", "duplicate"])
    if op == "flip" or not b:
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(lo, hi) if b else 0
            if b:
                b[i] ^= 1 << rng.randrange(8)
    elif op == "run":
        i = rng.randrange(lo, hi)
        b[i : i + rng.randint(1, 64)] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    elif op == "truncate":
        del b[rng.randrange(lo, hi) :]
    elif op == "insert":
        i = rng.randrange(lo, hi)
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 256)))
    else:
        i = rng.randrange(lo, hi)
        b[i:i] = b[i : i + rng.randint(1, 512)]
    return bytes(b)


def mutate_param(text: str, rng: random.Random) -> bytes:
    lines = text.splitlines()
    op = rng.choice(["token", "token", "number", "drop-line", "dup-line", "swap-lines", "bytes"])
    if op in ("token", "number") and len(lines) > 3:
        i = rng.randrange(2, len(lines))
        fields = lines[i].split()
        j = rng.randrange(len(fields))
        tokens = text.split()
        fields[j] = rng.choice(tokens) if op == "token" else str(rng.choice([-1, 0, 1, 2, 3, 7, 65536, 2**31]))
        lines[i] = " ".join(fields)
    elif op == "drop-line" and len(lines) > 3:
        del lines[rng.randrange(1, len(lines))]
    elif op == "dup-line" and len(lines) > 3:
        i = rng.randrange(2, len(lines))
        lines.insert(i, lines[i])
    elif op == "swap-lines" and len(lines) > 4:
        i, j = rng.sample(range(2, len(lines)), 2)
        lines[i], lines[j] = lines[j], lines[i]
    else:
        return mutate_bytes(text.encode(), rng)
    return ("\n".join(lines) + "\n").encode()


def mutate_json(data: object, rng: random.Random) -> object:
    """Replace, delete or retype one value somewhere in a JSON document."""
    junk = [None, -1, 0, 1e308, "", "x" * 300, [], {}, True, "../../etc/passwd", {"a": 1}, [1, 2]]

    def walk(node: object, depth: int) -> object:
        if isinstance(node, dict) and node and (depth < 3 or rng.random() < 0.5):
            key = rng.choice(list(node))
            choice = rng.random()
            if choice < 0.2:
                return {k: v for k, v in node.items() if k != key}
            if choice < 0.5:
                return {**node, key: rng.choice(junk)}
            return {**node, key: walk(node[key], depth + 1)}
        if isinstance(node, list) and node:
            i = rng.randrange(len(node))
            return [*node[:i], walk(node[i], depth + 1), *node[i + 1 :]]
        return rng.choice(junk)

    return walk(data, 0)


def reseal(folder: Path) -> None:
    """Sizes and sha256s in the manifest rewritten for the files as they are: the mutation gets
    past the integrity check and reaches the parsers and the runtime."""
    path = folder / "export.json"
    manifest = json.loads(path.read_text())
    for artifact in manifest.get("artifacts", []):
        file = folder / artifact["file"]
        if file.is_file():
            data = file.read_bytes()
            artifact["sha256"], artifact["size"] = hashlib.sha256(data).hexdigest(), len(data)
    path.write_text(json.dumps(manifest))


def huge_png(path: Path, width: int, height: int) -> None:
    """A tiny PNG whose header declares width × height pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))  # fmt: skip


# -- cases ----------------------------------------------------------------------------------------
def prepare(work: Path) -> dict[str, Path]:
    """A resnet18 export (random weights), a checkpoint and the registry file to mutate."""
    env = {**os.environ, "ZOO_CACHE": str(work / "cache")}
    export = work / "base-export"
    if not (export / "export.json").is_file():
        subprocess.run([sys.executable, "-m", "zoo.cli", "export", "resnet18", "--weights", "random", "-o",
                        str(export)], check=True, capture_output=True, env=env)  # fmt: skip
    checkpoint = work / "base.pth"
    if not checkpoint.is_file():
        code = (
            "import sys, torch; from zoo_classifier import resnet\n"
            "torch.manual_seed(0); torch.save(resnet.resnet18().state_dict(), sys.argv[1])"
        )
        subprocess.run([sys.executable, "-c", code, str(checkpoint)], check=True)
    return {"export": export, "checkpoint": checkpoint, "registry": ROOT / "registry.yaml"}


def make_case(kind: str, index: int, seed: int, base: dict[str, Path], work: Path) -> Case:
    rng = random.Random(f"{seed}-{kind}-{index}")
    folder = work / "cases" / f"{kind}-{index:04d}"
    folder.mkdir(parents=True, exist_ok=True)
    env = {"ZOO_CACHE": str(work / "cases-cache" / f"{kind}-{index:04d}")}
    run_args = ["run", "resnet18", str(PHOTO), "--json", "--threads", "1"]
    if kind in ("param", "bin", "manifest"):
        art = folder / "art"
        shutil.copytree(base["export"], art)
        if kind == "param":
            param = art / "model.ncnn.param"
            param.write_bytes(mutate_param(param.read_text(), rng))
            reseal(art)
        elif kind == "bin":
            binfile = art / "model.ncnn.bin"
            data = binfile.read_bytes()
            span = rng.choice([(0, 4096), (0, len(data)), (len(data) - 4096, len(data))])
            binfile.write_bytes(mutate_bytes(data, rng, span))
            reseal(art)
        else:
            manifest = art / "export.json"
            raw = json.loads(manifest.read_text())
            text = json.dumps(mutate_json(raw, rng)) if rng.random() < 0.8 else mutate_bytes(
                manifest.read_bytes(), rng).decode("latin-1")  # fmt: skip
            manifest.write_text(text, encoding="latin-1")
        return Case(kind, index, [*run_args, "--artifacts", str(art)], env, "")
    if kind == "image":
        image = folder / ("img.png" if rng.random() < 0.3 else "img.jpg")
        if image.suffix == ".png":
            huge_png(image, rng.choice([1, 60000, 100000, 2**20]), rng.choice([1, 3, 60000, 2**20]))
        else:
            image.write_bytes(mutate_bytes(PHOTO.read_bytes(), rng))
        art_args = ["--artifacts", str(base["export"])]
        return Case(kind, index, ["run", "resnet18", str(image), "--json", "--threads", "1", *art_args], env, "")
    if kind == "registry":
        registry = folder / "registry.yaml"
        data = base["registry"].read_bytes()
        registry.write_bytes(mutate_bytes(data, rng) if rng.random() < 0.6 else mutate_param(data.decode(), rng))
        return Case(kind, index, ["list", "--json"], {**env, "ZOO_REGISTRY": str(registry)}, "")
    if kind == "checkpoint":
        checkpoint = folder / "w.pth"
        data = base["checkpoint"].read_bytes()
        with zipfile.ZipFile(base["checkpoint"]) as z:
            pkl = next(i for i in z.infolist() if i.filename.endswith("data.pkl"))
            start = pkl.header_offset + 30 + len(pkl.filename)
        span = rng.choice([(start, start + pkl.file_size), (len(data) - 2048, len(data)), (0, 64)])
        checkpoint.write_bytes(mutate_bytes(data, rng, span))
        args = ["export", "resnet18", "--weights", str(checkpoint), "--no-parity", "-o", str(folder / "out")]
        return Case(kind, index, args, env, "")
    raise ValueError(kind)


def fuzz(cases: int, seed: int, kinds: tuple[str, ...], workers: int, work: Path,
         progress: Callable[[Outcome], None] | None = None) -> list[Outcome]:  # fmt: skip
    base = prepare(work)
    todo = [make_case(kind, i, seed, base, work) for kind in kinds for i in range(cases)]

    def one(case: Case) -> Outcome:
        outcome = run_case(case, work)
        if progress:
            progress(outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, todo))


def report(outcomes: list[Outcome], seed: int) -> dict[str, object]:
    counts = Counter((o.case.kind, o.result) for o in outcomes)
    totals = Counter(o.result for o in outcomes)
    bad = [o for o in outcomes if o.result not in ("success", "clean")]
    return {
        "seed": seed,
        "cases": len(outcomes),
        "totals": dict(totals),
        "by_kind": {k: {r: n for (kk, r), n in counts.items() if kk == k} for k in dict.fromkeys(o.case.kind for o in outcomes)},
        "failures": [{"kind": o.case.kind, "index": o.case.index, "result": o.result, "detail": o.detail,
                      "args": o.case.args} for o in bad],  # fmt: skip
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40, help="cases per kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="zoo-fuzz-"))
    outcomes = fuzz(args.cases, args.seed, tuple(args.kinds.split(",")), args.workers, work,
                    lambda o: print(f"{o.case.kind:10} {o.case.index:4} {o.result:9} {o.detail[:100]}", file=sys.stderr))
    print(json.dumps(report(outcomes, args.seed), indent=2))


if __name__ == "__main__":
    main()
