"""Run one ncnn model on many inputs and write the outputs as .npy files (the ARM side).

This file runs inside the emulated aarch64 Python (``zoo.verify.arm`` starts it under
qemu-user), so it imports nothing but the standard library, numpy, ncnn and its sibling
``driver.py`` (loaded by path), and never ``zoo``.

Protocol: ``python3.11 arm_worker.py JOB.json``. The job names the .param/.bin files, the Option
flags (or null for ncnn's defaults), the thread count, the output blob names, and per input a map
blob name -> .npy file. The worker writes one .npy per output next to the job, then ``result.json``
listing them with what it saw (ncnn version, Option flags in effect, CPU features). Any failure
is a traceback on stderr and a non-zero exit.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _driver():  # type: ignore[no-untyped-def]
    path = Path(__file__).with_name("driver.py")
    spec = importlib.util.spec_from_file_location("zoo_ncnn_driver", path)
    if spec is None or spec.loader is None:
        raise ImportError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: arm_worker.py JOB.json", file=sys.stderr)
        return 2
    import ncnn

    driver = _driver()
    job_path = Path(argv[0])
    job = json.loads(job_path.read_text(encoding="utf-8"))
    work = job_path.parent
    net = driver.new_net(job["param"], job["bin"], job["options"], int(job["threads"]))
    written = []
    for index, files in enumerate(job["inputs"]):
        inputs = {blob: np.load(work / filename, allow_pickle=False) for blob, filename in files.items()}
        outputs = driver.run(net, inputs, job["output_names"])
        entry = {}
        for position, (blob, array) in enumerate(outputs.items()):
            filename = f"out_{index}_{position}.npy"
            np.save(work / filename, array, allow_pickle=False)
            entry[blob] = filename
        written.append(entry)
    info = {
        "ncnn_version": str(ncnn.__version__),
        "numpy_version": str(np.__version__),
        "threads": int(job["threads"]),
        "effective_options": driver.effective_options(net),
        "cpu_features": driver.cpu_features(),
    }
    (work / "result.json").write_text(json.dumps({"outputs": written, "info": info}), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
