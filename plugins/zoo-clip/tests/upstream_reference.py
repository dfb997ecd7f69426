"""Run open_clip on inputs and save what it computes (used by test_upstream.py).

Runs under a Python where open_clip imports (torch 2.14.1 + torchvision 0.29.1; FACTS.md):
    python upstream_reference.py tokens TEXTS.json OUT.npz
    python upstream_reference.py model ARCH IMAGES.npy OUT_DIR      (ARCH: an open_clip model name)
    python upstream_reference.py preprocess ARCH IMAGE_DIR OUT.npz
``model`` writes OUT_DIR/checkpoint.pt (open_clip's own random-init state dict, seed 0) and
OUT_DIR/reference.npz: image embeddings of IMAGES.npy (N, 3, S, S), text embeddings and token ids of
a few prompts, the logit scale, and parameter counts per tower.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

PROMPTS = ["a photo of a cat", "a photo of a dog", "a diagram", "an astronaut riding a horse on the moon"]


def tokens(src: Path, out: Path) -> None:
    import open_clip

    texts = json.loads(src.read_text())
    tok = open_clip.get_tokenizer("ViT-B-32")
    np.savez(out, ids=tok(texts).numpy(), vocab=str(Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"))


def model(arch: str, src: Path, out: Path) -> None:
    import open_clip

    torch.manual_seed(0)
    clip = open_clip.create_model(arch).eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # norms away from identity, layer scales away from 1e-5: really tested
        for name, p in clip.named_parameters():
            if "ln_" in name:
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)
            elif name.endswith(".gamma"):
                p.copy_(torch.rand(p.shape, generator=gen) * 0.2)
        for m in clip.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen) * 0.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)
    torch.save(clip.state_dict(), out / "checkpoint.pt")
    tok = open_clip.get_tokenizer(arch)
    ids = tok(PROMPTS)
    with torch.no_grad():
        image = clip.encode_image(torch.from_numpy(np.load(src)))
        text = clip.encode_text(ids)
    np.savez(out / "reference.npz", image=image.numpy(), text=text.numpy(), ids=ids.numpy(),
             logit_scale=float(clip.logit_scale), prompts=np.array(PROMPTS),
             image_params=sum(p.numel() for p in clip.visual.parameters()),
             image_params_reparameterized=_reparameterized_params(clip),
             text_params=sum(p.numel() for n, p in clip.named_parameters() if not n.startswith("visual")))


def _reparameterized_params(clip: torch.nn.Module) -> int:
    import copy

    try:
        from timm.utils.model import reparameterize_model
    except ImportError:
        return -1
    return sum(p.numel() for p in reparameterize_model(copy.deepcopy(clip.visual)).parameters())


def preprocess(arch: str, src: Path, out: Path) -> None:
    import open_clip
    from PIL import Image

    # the eval transform of the published weights (MobileCLIP: bilinear, no mean/std)
    tag = {"ViT-B-32": "openai", "MobileCLIP2-S0": "dfndr2b"}[arch]
    cfg = open_clip.get_pretrained_cfg(arch, tag)
    model_cfg = open_clip.get_model_config(arch)
    transform = open_clip.image_transform(model_cfg["vision_cfg"]["image_size"], is_train=False, mean=cfg["mean"],
                                          std=cfg["std"], interpolation=cfg.get("interpolation", "bicubic"),
                                          resize_mode=cfg.get("resize_mode", "shortest"))
    arrays = {}
    for path in sorted(src.iterdir()):
        with Image.open(path) as im:
            arrays[path.stem] = transform(im).numpy()
    np.savez(out, **arrays)


if __name__ == "__main__":
    torch.set_num_threads(1)
    what = sys.argv[1]
    if what == "tokens":
        tokens(Path(sys.argv[2]), Path(sys.argv[3]))
    elif what == "model":
        model(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
    elif what == "preprocess":
        preprocess(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
    else:
        raise SystemExit(f"unknown mode {what!r}")
