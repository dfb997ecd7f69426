"""k-means weight clustering (weight sharing, as in Deep Compression).

Each layer's weights are replaced by the nearest of ``k`` shared values (the codebook), so a
layer stores ``ceil(log2 k)``-bit indices plus ``k`` floats. Centroids start evenly spaced in
``[min, max]`` (linear init): Han et al. found it keeps the rare large weights that density-based
inits starve, and it makes the result deterministic.

The model that ``cluster_weights`` returns holds the centroid values in ordinary float weights,
so it exports like any other model. ``attach_codebooks`` makes the centroids trainable for a
short fine-tune (each centroid's gradient is the sum of its weights' gradients); ``bake`` from
``zoo.compress.parametrize`` writes them back.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

from zoo.compress.fake_quant import QUANTIZABLE
from zoo.errors import ConfigError, InputError


@dataclass(frozen=True)
class Clustering:
    """One layer's codebook (sorted, ``k`` floats) and the index of each weight into it."""

    codebook: torch.Tensor
    indices: torch.Tensor

    def weights(self) -> torch.Tensor:
        return self.codebook[self.indices]


def _assign(values: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centroid for each value; ``codebook`` must be sorted.

    ``bucketize`` against the midpoints is O(n log k) with no n-by-k distance matrix, so big
    layers cluster without big memory.
    """
    midpoints = (codebook[1:] + codebook[:-1]) / 2
    return torch.bucketize(values, midpoints)


def kmeans_1d(values: torch.Tensor, k: int, iters: int = 50, tol: float = 1e-7) -> Clustering:
    """Lloyd's k-means on scalar values with centroids initialised linearly in ``[min, max]``.

    Empty clusters keep their previous centroid. ``indices`` has the shape of ``values``.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ConfigError(f"k must be an integer >= 2, got {k!r}")
    if iters < 1:
        raise ConfigError(f"iters must be >= 1, got {iters}")
    if values.numel() == 0:
        raise InputError("cannot cluster an empty tensor")
    flat = values.detach().reshape(-1).float()
    codebook = torch.linspace(float(flat.min()), float(flat.max()), k)
    for _ in range(iters):
        idx = _assign(flat, codebook)
        sums = torch.zeros(k).scatter_add_(0, idx, flat)
        counts = torch.zeros(k).scatter_add_(0, idx, torch.ones_like(flat))
        updated = torch.where(counts > 0, sums / counts.clamp(min=1), codebook)
        updated, _ = torch.sort(updated)
        shift = float((updated - codebook).abs().max())
        codebook = updated
        if shift <= tol:
            break
    idx = _assign(flat, codebook)
    return Clustering(codebook=codebook.to(values.dtype), indices=idx.reshape(values.shape))


@torch.no_grad()
def cluster_weights(
    model: nn.Module, k: int, iters: int = 50, inplace: bool = False
) -> tuple[nn.Module, dict[str, Clustering]]:
    """Cluster each Conv2d/Linear weight into ``k`` values and write the centroids back.

    Biases stay float (they are few and sensitive). Returns the model (a copy unless
    ``inplace``) and each layer's clustering by module name.
    """
    target = model if inplace else copy.deepcopy(model)
    clusterings: dict[str, Clustering] = {}
    for name, module in target.named_modules():
        if isinstance(module, QUANTIZABLE):
            clustering = kmeans_1d(module.weight, k, iters)
            module.weight.copy_(clustering.weights())
            clusterings[name] = clustering
    if not clusterings:
        raise InputError("the model has no Conv2d or Linear layer to cluster")
    return target, clusterings


class SharedWeights(nn.Module):
    """Parametrization ``weight = codebook[indices]`` with a trainable codebook."""

    indices: torch.Tensor

    def __init__(self, clustering: Clustering) -> None:
        super().__init__()
        self.codebook = nn.Parameter(clustering.codebook.clone())
        self.register_buffer("indices", clustering.indices.clone())

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        # The incoming weight is ignored: the codebook is the only free parameter.
        return self.codebook[self.indices]


def attach_codebooks(model: nn.Module, clusterings: dict[str, Clustering]) -> list[nn.Parameter]:
    """Make each clustered layer's weight a view of a trainable codebook; return the codebooks.

    Train the returned parameters (the original weights get no gradient), then call
    ``zoo.compress.parametrize.bake(model)``.
    """
    modules = dict(model.named_modules())
    codebooks: list[nn.Parameter] = []
    for name, clustering in clusterings.items():
        module = modules.get(name)
        if module is None:
            raise InputError(f"no layer named {name!r} in the model")
        shared = SharedWeights(clustering)
        parametrize.register_parametrization(module, "weight", shared, unsafe=True)
        module.parametrizations.weight.original.requires_grad_(False)
        codebooks.append(shared.codebook)
    return codebooks
