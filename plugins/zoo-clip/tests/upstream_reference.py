"""Run open_clip on inputs and save what it computes (used by test_upstream.py).

Runs under a Python where open_clip imports (torch 2.14.1 + torchvision 0.29.1; FACTS.md):
    python upstream_reference.py tokens TEXTS.json OUT.npz
    python upstream_reference.py model ARCH IMAGES.npy OUT_DIR      (ARCH: an open_clip model name)
    python upstream_reference.py preprocess IMAGE_DIR OUT.npz
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
    with torch.no_grad():  # LayerNorm affine terms away from (1, 0), so they are really tested
        for name, p in clip.named_parameters():
            if "ln_" in name:
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)
    torch.save(clip.state_dict(), out / "checkpoint.pt")
    tok = open_clip.get_tokenizer(arch)
    ids = tok(PROMPTS)
    with torch.no_grad():
        image = clip.encode_image(torch.from_numpy(np.load(src)))
        text = clip.encode_text(ids)
    np.savez(out / "reference.npz", image=image.numpy(), text=text.numpy(), ids=ids.numpy(),
             logit_scale=float(clip.logit_scale), prompts=np.array(PROMPTS),
             image_params=sum(p.numel() for p in clip.visual.parameters()),
             text_params=sum(p.numel() for n, p in clip.named_parameters() if not n.startswith("visual")))


def preprocess(src: Path, out: Path) -> None:
    import open_clip
    from PIL import Image

    _, _, transform = open_clip.create_model_and_transforms("ViT-B-32")
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
        preprocess(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        raise SystemExit(f"unknown mode {what!r}")
