"""Does `zoo bench` measure what a bare ncnn extract loop measures on the same files?

Runs, interleaved in rounds so machine noise hits both alike (the median round of each is compared), (a) a bare loop written directly
against the ncnn Python API, in its own process, and (b) zoo's benchmark worker, on the same
.param/.bin, input, Option flags and thread count; prints both medians and their ratio.

    .venv/bin/python benchmarks/bare_ncnn.py [--model resnet18] [--threads 1,2] [--runs 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap

BARE = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    import ncnn

    job = json.loads(sys.stdin.read())
    net = ncnn.Net()
    for key, value in job["options"].items():
        setattr(net.opt, key, value)
    net.opt.num_threads = job["threads"]
    net.load_param(job["param"])
    net.load_model(job["bin"])
    x = np.random.default_rng(0).standard_normal(job["shape"][1:]).astype(np.float32)
    mat = ncnn.Mat(x)

    def once():
        ex = net.create_extractor()
        ex.input("in0", mat)
        ex.extract("out0")

    for _ in range(job["warmup"]):
        once()
    samples = []
    for _ in range(job["runs"]):
        t0 = time.perf_counter_ns()
        once()
        samples.append(time.perf_counter_ns() - t0)
    json.dump(samples, sys.stdout)
    """
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--dtype", default="fp32")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from zoo.flows.artifacts import ensure_export
    from zoo.flows.bench import BenchJob, run_worker
    from zoo.registry import get_registry

    spec = get_registry().get(args.model)
    exp = ensure_export(spec.id, args.dtype, "ncnn", "random")
    options = exp.manifest.runtime_options
    print(f"model {spec.id} {args.dtype}, files {exp.folder}, options {options}")
    print(f"{'threads':>7} {'bare median ms':>15} {'zoo median ms':>14} {'zoo/bare':>9}")
    for threads in [int(t) for t in args.threads.split(",")]:
        bare_job = {
            "threads": threads,
            "runs": args.runs,
            "warmup": args.warmup,
            "param": str(exp.file("param")),
            "bin": str(exp.file("bin")),
            "options": options,
            "shape": list(spec.component.inputs[0].shape),
        }
        job = BenchJob(model=spec.id, runtime="ncnn", precision=args.dtype, threads=threads, runs=args.runs,
                       warmup=args.warmup, pipeline=False, exports={spec.id: str(exp.folder)})  # fmt: skip
        bare: list[float] = []
        zoo: list[float] = []
        for _ in range(args.rounds):
            out = subprocess.run(
                [sys.executable, "-c", BARE], input=json.dumps(bare_job), capture_output=True, text=True, check=True
            )
            bare.append(statistics.median(s / 1e6 for s in json.loads(out.stdout)))
            zoo.append(run_worker(job).measures["model"].latency.median_ms)
        b, z = statistics.median(bare), statistics.median(zoo)  # the median round of each
        print(f"{threads:>7} {b:>15.2f} {z:>14.2f} {z / b:>9.3f}")


if __name__ == "__main__":
    main()
