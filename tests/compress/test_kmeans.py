from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.compress.kmeans import attach_codebooks, cluster_weights, kmeans_1d
from zoo.compress.parametrize import bake
from zoo.errors import ConfigError, InputError


@pytest.mark.parametrize("k", [2, 4, 8, 16])
def test_cluster_weights_leaves_at_most_k_values_per_layer(model: nn.Module, k: int) -> None:
    clustered, clusterings = cluster_weights(model, k)
    layers = [m for m in clustered.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == len(clusterings) == 4
    for layer in layers:
        assert layer.weight.unique().numel() <= k
    # The input model is untouched.
    assert model[6].weight.unique().numel() > k


def test_codebook_indices_reproduce_the_written_weights(model: nn.Module) -> None:
    clustered, clusterings = cluster_weights(model, 8)
    c = clusterings["6"]
    assert c.codebook.shape == (8,)
    assert c.indices.shape == clustered[6].weight.shape
    torch.testing.assert_close(c.weights(), clustered[6].weight)
    assert torch.all(c.codebook[1:] >= c.codebook[:-1])


def test_linear_init_spans_min_max_and_lloyd_improves_on_it() -> None:
    values = torch.cat([torch.randn(900) * 0.1, torch.randn(100) * 0.1 + 2.0])
    one_step = kmeans_1d(values, 4, iters=1)
    converged = kmeans_1d(values, 4, iters=100)
    init = torch.linspace(float(values.min()), float(values.max()), 4)
    init_err = (init[torch.bucketize(values, (init[1:] + init[:-1]) / 2)] - values).square().mean()
    err_1 = (one_step.weights() - values).square().mean()
    err_n = (converged.weights() - values).square().mean()
    assert err_n <= err_1 <= init_err
    assert float(converged.codebook.min()) >= float(values.min())
    assert float(converged.codebook.max()) <= float(values.max())


def test_two_clear_clusters_are_found() -> None:
    values = torch.tensor([-1.0, -1.1, -0.9, 3.0, 3.1, 2.9])
    result = kmeans_1d(values, 2)
    torch.testing.assert_close(result.codebook, torch.tensor([-1.0, 3.0]))
    assert result.indices.tolist() == [0, 0, 0, 1, 1, 1]


def test_centroid_finetune_keeps_sharing_and_moves_centroids(model: nn.Module, images: torch.Tensor) -> None:
    clustered, clusterings = cluster_weights(model, 4)
    codebooks = attach_codebooks(clustered, clusterings)
    before = [c.detach().clone() for c in codebooks]
    opt = torch.optim.SGD(codebooks, lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        clustered(images).square().mean().backward()
        opt.step()
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, codebooks, strict=True))
    bake(clustered)
    for name, layer in clustered.named_modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            assert layer.weight.unique().numel() <= 4, name
            assert isinstance(layer.weight, nn.Parameter)
    torch.jit.trace(clustered, images)


def test_bad_k_and_empty_model() -> None:
    with pytest.raises(ConfigError, match="k must be"):
        kmeans_1d(torch.randn(5), 1)
    with pytest.raises(InputError, match="no Conv2d or Linear"):
        cluster_weights(nn.Sequential(nn.ReLU()), 4)
