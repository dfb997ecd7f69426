"""Equivalence with open_clip on checkpoints open_clip writes itself (random init, seed 0).

open_clip needs torchvision, which does not import beside the pinned torch 2.13 (FACTS.md), so it
runs in another Python: set ZOO_UPSTREAM_PYTHON to one with torch 2.14.1 + torchvision 0.29.1 +
open-clip-torch. Without it these tests skip and say so.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from zoo.images import sample_image_paths, sample_images  # noqa: E402
from zoo_clip import processing  # noqa: E402
from zoo_clip.nets import clip as clip_nets  # noqa: E402
from zoo_clip.nets import mobileclip  # noqa: E402
from zoo_clip.nets.clip import TextTower  # noqa: E402
from zoo_clip.tokenizer import Tokenizer  # noqa: E402

SCRIPT = Path(__file__).with_name("upstream_reference.py")


def _run(exe: str, *args: str) -> None:
    proc = subprocess.run([exe, str(SCRIPT), *args], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["ViT-B-32", "ViT-B-32-quickgelu", "ViT-S-32", "MobileCLIP2-S0"])
def test_embeddings_equal_open_clip(arch: str, tmp_path: Path, upstream_python: str, vocabulary: Path) -> None:
    torch.set_num_threads(1)
    size = 256 if arch.startswith("MobileCLIP") else 224
    images = np.concatenate([processing.preprocess_image(im, size) for im in sample_images(3)])
    np.save(tmp_path / "images.npy", images)
    _run(upstream_python, "model", arch, str(tmp_path / "images.npy"), str(tmp_path))
    ref = np.load(tmp_path / "reference.npz")
    checkpoint = str(tmp_path / "checkpoint.pt")
    if arch.startswith("MobileCLIP"):
        clip = mobileclip.build(mobileclip.MOBILECLIP2_S0, checkpoint)
        exported = mobileclip.towers(clip)["image"]  # reparameterized, as timm's reparameterize_model
        assert int(ref["image_params_reparameterized"]) == sum(p.numel() for p in exported.parameters())
        with torch.no_grad():
            folded = exported(torch.from_numpy(images)).numpy()
        np.testing.assert_allclose(folded, ref["image"], atol=1e-4 * max(1.0, np.abs(ref["image"]).max()), rtol=1e-4)
    else:
        cfg = {"ViT-B-32": clip_nets.VIT_B_32, "ViT-B-32-quickgelu": clip_nets.VIT_B_32_QUICKGELU,
               "ViT-S-32": clip_nets.VIT_S_32}[arch]
        clip = clip_nets.build(cfg, checkpoint)
    assert int(ref["image_params"]) == sum(p.numel() for p in clip.visual.parameters())
    assert int(ref["text_params"]) == sum(p.numel() for n, p in clip.named_parameters() if not n.startswith("visual"))
    tokens = Tokenizer(vocabulary)([str(p) for p in ref["prompts"]])
    np.testing.assert_array_equal(tokens.ids, ref["ids"])
    with torch.no_grad():
        image = clip.encode_image(torch.from_numpy(images)).numpy()
        text = clip.encode_text(torch.from_numpy(tokens.ids)).numpy()
        tower = TextTower(clip.text)(torch.from_numpy(tokens.ids), torch.from_numpy(tokens.eot_onehot())).numpy()
    scale = np.abs(ref["image"]).max()
    print(f"{arch}: image max abs diff {np.abs(image - ref['image']).max():.2e} (|max| {scale:.2f}), "
          f"text {np.abs(text - ref['text']).max():.2e}, text tower (one-hot) {np.abs(tower - ref['text']).max():.2e}")
    np.testing.assert_allclose(image, ref["image"], atol=1e-4 * max(1.0, scale), rtol=1e-4)
    np.testing.assert_allclose(text, ref["text"], atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(tower, ref["text"], atol=1e-4, rtol=1e-4)
    assert float(clip.logit_scale.detach()) == pytest.approx(float(ref["logit_scale"]))
    # the embeddings are input-dependent, so the comparison is not vacuous
    assert np.abs(ref["image"][0] - ref["image"][1]).max() > 10 * np.abs(image - ref["image"]).max()


@pytest.mark.slow
def test_preprocessing_equals_open_clips_transform(tmp_path: Path, upstream_python: str) -> None:
    """Our numpy/Pillow preprocessing vs open_clip's torchvision transform, on the shipped photos
    and on odd sizes (portrait, landscape, smaller than 224, exact)."""
    from PIL import Image

    src = tmp_path / "images"
    src.mkdir()
    arrays = {}
    rng = np.random.default_rng(0)
    for path in sample_image_paths():
        arrays[path.stem] = np.asarray(Image.open(path).convert("RGB"))
    for name, (h, w) in {"portrait": (401, 257), "landscape": (150, 517), "small": (100, 90), "exact": (224, 224)}.items():
        arrays[name] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    for name, array in arrays.items():
        Image.fromarray(array).save(src / f"{name}.png")
    for arch, kwargs in (("ViT-B-32", {}),
                         ("MobileCLIP2-S0", {"size": 256, "mean": (0.0,) * 3, "std": (1.0,) * 3,
                                             "interpolation": "bilinear"})):
        _run(upstream_python, "preprocess", arch, str(src), str(tmp_path / f"{arch}.npz"))
        ref = np.load(tmp_path / f"{arch}.npz")
        for name, array in arrays.items():
            mine = processing.preprocess_image(array, **kwargs)[0]  # type: ignore[arg-type]
            assert mine.shape == ref[name].shape, (arch, name)
            np.testing.assert_allclose(mine, ref[name], atol=1e-5, err_msg=f"{arch} {name}")
