"""CLIP towers on ncnn: params/MACs, latency (fp32/fp16, int8 image tower), parity and int8 fidelity.

    .venv/bin/python plugins/zoo-clip/benchmarks/bench_towers.py [--models clip-vit-b32,clip-vit-s32]
        [--threads 1,2] [--out DIR] [--json results.json]

Random weights (no CLIP checkpoint is reachable here), so accuracy is not measured; parity and
int8 fidelity are: per-tower cosine of ncnn vs PyTorch embeddings on the shipped photos (and
their mirrors) and on prompts, zero-shot top-1 agreement over a 20-label set, and the same for
the int8 image tower against the fp32 one. Prints one row per (model, tower, dtype, threads).
A stop-gap for ``zoo bench clip-vit-b32`` until the core exports and benchmarks components.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")


LABELS = ["cat", "dog", "astronaut", "rocket", "coffee", "horse", "car", "bird", "tree", "house", "pizza",
          "guitar", "mountain", "boat", "flower", "phone", "book", "chair", "clock", "bicycle"]


def _analytic_macs(cfg: Any, tower: str) -> int | None:
    """Multiply-accumulates including attention (in/out projections, QK^T, AV); ViT towers only."""
    if tower == "image" and not hasattr(cfg, "vision"):
        return None
    if tower == "image":
        v = cfg.vision
        n, w = (v.image_size // v.patch_size) ** 2 + 1, v.width
        patches = (n - 1) * 3 * v.patch_size**2 * w
        per_layer = n * (4 * w * w + 2 * int(w * v.mlp_ratio) * w) + 2 * n * n * w
        return patches + v.layers * per_layer + w * cfg.embed_dim
    t = cfg.text
    n, w = t.context_length, t.width
    per_layer = n * (4 * w * w + 2 * int(w * t.mlp_ratio) * w) + 2 * n * n * w
    return t.layers * per_layer + n * w + w * cfg.embed_dim  # + the one-hot gather and projection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="clip-vit-b32,clip-vit-s32,mobileclip2-s0")
    parser.add_argument("--skip-fidelity", action="store_true", help="latency only")
    parser.add_argument("--reuse", action="store_true", help="reuse ncnn files already in --out (no re-export)")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--out", type=Path, default=None, help="keep the ncnn files here")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--int8-method", default="minmax,kl")
    args = parser.parse_args()

    import torch

    from zoo.bench.count import count_macs, count_params
    from zoo.bench.host import LoadMonitor
    from zoo.bench.timing import time_calls
    from zoo.export.int8 import quantize_ncnn
    from zoo.images import calibration_images, sample_images
    from zoo.runtime.ncnn_session import OPTIONS_BY_DTYPE
    from zoo_clip import processing
    from zoo_clip.convert import convert, layer_types
    from zoo_clip.nets import clip as clip_nets
    from zoo_clip.nets import mobileclip
    from zoo_clip.pipeline import ClipPredictor, NcnnTower, TorchTower
    from zoo_clip.result import Embeddings, embeddings_agreement, zero_shot_agreement, zero_shot_result
    from zoo_clip.tokenizer import Tokenizer

    torch.set_num_threads(1)
    configs: dict[str, Any] = {"clip-vit-b32": clip_nets.VIT_B_32_QUICKGELU, "clip-vit-s32": clip_nets.VIT_S_32,
                               "mobileclip2-s0": mobileclip.MOBILECLIP2_S0}
    threads = [int(t) for t in args.threads.split(",")]
    out_root = args.out or Path(tempfile.mkdtemp(prefix="zoo-clip-bench-"))
    tokenizer = Tokenizer()
    images = sample_images()
    prompts = processing.prompts(LABELS)
    tokens = tokenizer(prompts)
    rows: list[dict[str, Any]] = []
    report: dict[str, Any] = {}

    for model_id in args.models.split(","):
        cfg = configs[model_id]
        nets: Any = mobileclip if model_id.startswith("mobileclip") else clip_nets
        clip = nets.build(cfg)
        parts = nets.towers(clip)
        size = cfg.image_size if model_id.startswith("mobileclip") else cfg.vision.image_size
        pre = ({"mean": (0.0,) * 3, "std": (1.0,) * 3, "interpolation": "bilinear"}
               if model_id.startswith("mobileclip") else {})
        x = torch.from_numpy(processing.preprocess_image(images[0], size, **pre))
        ids, eot = torch.from_numpy(tokens.ids[:1]), torch.from_numpy(tokens.eot_onehot()[:1])
        info: dict[str, Any] = {"towers": {}}
        for role, example in (("image", (x,)), ("text", (ids, eot))):
            mod = parts[role]
            info["towers"][role] = {
                "params": count_params(mod) if role == "image" else sum(
                    p.numel() for n, p in clip.named_parameters() if not n.startswith("visual")),
                "macs_zoo_count": count_macs(mod, example),
                "macs_with_attention": _analytic_macs(cfg, role),
            }
        files: dict[tuple[str, str], dict[str, Path]] = {}
        for role, example in (("image", (x,)), ("text", (ids, eot))):
            for dtype in ("fp32", "fp16"):
                t0 = time.perf_counter()
                folder = out_root / model_id / dtype
                if args.reuse and (folder / f"{role}.ncnn.bin").is_file():
                    files[(role, dtype)] = {"param": folder / f"{role}.ncnn.param", "bin": folder / f"{role}.ncnn.bin"}
                    continue
                files[(role, dtype)] = convert(parts[role], example, folder, role, fp16=dtype == "fp16")
                info["towers"][role].setdefault("convert_s", {})[dtype] = round(time.perf_counter() - t0, 1)
            info["towers"][role]["ncnn_layers"] = layer_types(files[(role, "fp32")]["param"])

        calib = [{"in0": processing.preprocess_image(im, size, **pre)} for im in calibration_images()]
        int8: dict[str, Any] = {}
        for method in args.int8_method.split(","):
            d = out_root / model_id / f"int8-{method}"
            d.mkdir(parents=True, exist_ok=True)
            if args.reuse and (d / "image.ncnn.bin").is_file():
                files[("image", f"int8-{method}")] = {"param": d / "image.ncnn.param", "bin": d / "image.ncnn.bin"}
                continue
            t0 = time.perf_counter()
            rep = quantize_ncnn(files[("image", "fp32")]["param"], files[("image", "fp32")]["bin"], calib,
                                d / "image.ncnn.param", d / "image.ncnn.bin", method=method)
            files[("image", f"int8-{method}")] = {"param": d / "image.ncnn.param", "bin": d / "image.ncnn.bin"}
            int8[method] = {"quantized": [q.type for q in rep.layers], "kept_float": len(rep.kept_float),
                            "kept_float_types": sorted({r.split()[2] for _, r in rep.kept_float if r.startswith("unsupported")}),
                            "seconds": round(time.perf_counter() - t0, 1)}
        info["int8"] = int8

        logit_scale = float(clip.logit_scale.detach())
        if not args.skip_fidelity:
            # parity and fidelity (1 thread)
            ref = ClipPredictor(TorchTower(parts["image"]), TorchTower(parts["text"]), tokenizer, logit_scale, size,
                                model_id=model_id, **pre)
            ref_img = [Embeddings(vectors=ref.embed_image(im)[None]) for im in images]
            ref_txt = ref.texts(prompts)
            fidelity: dict[str, Any] = {}
            for dtype in ["fp32", "fp16", *[f"int8-{m}" for m in int8]]:
                opts = OPTIONS_BY_DTYPE["int8" if dtype.startswith("int8") else dtype]
                img_files = files[("image", dtype)]
                img = NcnnTower(img_files["param"], img_files["bin"], 1, opts)
                cand = ClipPredictor(img, None, tokenizer, logit_scale, size, model_id=model_id, **pre)
                cand_img = [Embeddings(vectors=cand.embed_image(im)[None]) for im in images]
                entry = {"image": embeddings_agreement(ref_img, cand_img)}
                ref_zs = [zero_shot_result(processing.softmax(processing.zero_shot_logits(e.vectors, ref_txt.vectors,
                                                                                          logit_scale))[0], LABELS)
                          for e in ref_img]
                cand_zs = [zero_shot_result(processing.softmax(processing.zero_shot_logits(e.vectors, ref_txt.vectors,
                                                                                           logit_scale))[0], LABELS)
                           for e in cand_img]
                entry["zero_shot_vs_torch"] = zero_shot_agreement(ref_zs, cand_zs)
                if not dtype.startswith("int8"):
                    txt_files = files[("text", dtype)]
                    txt = NcnnTower(txt_files["param"], txt_files["bin"], 1, opts)
                    cand_txt = ClipPredictor(None, txt, tokenizer, logit_scale, size, model_id=model_id, **pre).texts(prompts)
                    entry["text"] = embeddings_agreement([ref_txt], [cand_txt])
                fidelity[dtype] = entry
            # int8 image tower against the fp32 ncnn image tower
            fp32_img = NcnnTower(files[("image", "fp32")]["param"], files[("image", "fp32")]["bin"], 1)
            fp32_pred = ClipPredictor(fp32_img, None, tokenizer, logit_scale, size, model_id=model_id, **pre)
            fp32_vecs = [Embeddings(vectors=fp32_pred.embed_image(im)[None]) for im in images]
            for method in int8:
                opts = OPTIONS_BY_DTYPE["int8"]
                f = files[("image", f"int8-{method}")]
                pred = ClipPredictor(NcnnTower(f["param"], f["bin"], 1, opts), None, tokenizer, logit_scale, size, **pre)
                vecs = [Embeddings(vectors=pred.embed_image(im)[None]) for im in images]
                zs = [zero_shot_result(processing.softmax(processing.zero_shot_logits(e.vectors, ref_txt.vectors,
                                                                                      logit_scale))[0], LABELS) for e in vecs]
                zs_ref = [zero_shot_result(processing.softmax(processing.zero_shot_logits(e.vectors, ref_txt.vectors,
                                                                                          logit_scale))[0], LABELS)
                          for e in fp32_vecs]
                fidelity[f"int8-{method}"]["vs_fp32"] = {**embeddings_agreement(fp32_vecs, vecs),
                                                         **zero_shot_agreement(zs_ref, zs)}
            info["fidelity"] = fidelity

        # latency
        x_np = processing.preprocess_image(images[0], size, **pre)
        for th in threads:
            for (role, dtype), f in files.items():
                opts = OPTIONS_BY_DTYPE["int8" if dtype.startswith("int8") else dtype]
                sess = NcnnTower(f["param"], f["bin"], th, opts)
                feed = {"in0": x_np} if role == "image" else {"in0": tokens.ids[:1], "in1": tokens.eot_onehot()[:1]}
                mon = LoadMonitor()
                mon.start()
                lat = time_calls(lambda s=sess, i=feed: s.run(i), warmup=3).latency()
                other = mon.stop()
                rows.append({"model": model_id, "tower": role, "dtype": dtype, "threads": th,
                             "median_ms": round(lat.median_ms, 1), "min_ms": round(lat.min_ms, 1),
                             "p90_ms": round(lat.p90_ms, 1), "runs": lat.runs, "other_load": round(other, 2)})
                print(json.dumps(rows[-1]), flush=True)
            # zero-shot pipeline for 20 labels, fp32, without and with the text cache
            pred = ClipPredictor(NcnnTower(files[("image", "fp32")]["param"], files[("image", "fp32")]["bin"], th),
                                 NcnnTower(files[("text", "fp32")]["param"], files[("text", "fp32")]["bin"], th),
                                 tokenizer, logit_scale, size, model_id=model_id, text_artifact_sha256="bench", **pre)
            with tempfile.TemporaryDirectory() as cache:
                t0 = time.perf_counter()
                pred.zero_shot(images[0], LABELS, cache_dir=Path(cache))
                cold = 1000 * (time.perf_counter() - t0)
                warm = time_calls(lambda p=pred, c=cache: p.zero_shot(images[0], LABELS, cache_dir=Path(c)),
                                  warmup=1).latency()
            rows.append({"model": model_id, "tower": f"zero-shot {len(LABELS)} labels", "dtype": "fp32", "threads": th,
                         "no_cache_ms": round(cold, 1), "cached_median_ms": round(warm.median_ms, 1)})
            print(json.dumps(rows[-1]), flush=True)
        report[model_id] = info
        print(json.dumps({model_id: info}, indent=1, default=str), flush=True)

    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "models": report}, indent=1, default=str))
    print("ncnn files in", out_root, file=sys.stderr)


if __name__ == "__main__":
    main()
