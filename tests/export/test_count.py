"""MAC counting: attention and matrix products are counted once each, whichever way a module
writes them; convolutions and linear layers as before (resnet18's 1,814,073,344 is checked in the
classifier plugin's tests)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from zoo.convert.count import count_macs  # noqa: E402

E, HEADS, L = 16, 2, 5
# Q, K, V and output projections (4 L E²) + QKᵀ and AV (2 L² E)
ATTENTION = 4 * L * E * E + 2 * L * L * E


class Explicit(torch.nn.Module):
    """Attention written out: F.linear with a packed weight, heads, matmul, softmax, matmul."""

    def __init__(self, sdpa: bool = False) -> None:
        super().__init__()
        self.in_proj_weight = torch.nn.Parameter(torch.randn(3 * E, E))
        self.out_proj = torch.nn.Linear(E, E)
        self.sdpa = sdpa

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = torch.nn.functional.linear(x, self.in_proj_weight).chunk(3, dim=-1)
        q, k, v = (t.reshape(1, L, HEADS, E // HEADS).transpose(1, 2) for t in (q, k, v))
        if self.sdpa:
            out = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        else:
            out = (q @ k.transpose(-2, -1)).softmax(-1).matmul(v)
        return self.out_proj(out.transpose(1, 2).reshape(1, L, E))


class Fused(torch.nn.Module):
    def __init__(self, batch_first: bool) -> None:
        super().__init__()
        self.attn = torch.nn.MultiheadAttention(E, HEADS, batch_first=batch_first)
        self.batch_first = batch_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x if self.batch_first else x.transpose(0, 1)
        return self.attn(x, x, x, need_weights=False)[0]


@pytest.mark.parametrize("module", [Explicit(), Explicit(sdpa=True), Fused(True), Fused(False)],
                         ids=["matmul", "sdpa", "mha-batch-first", "mha-seq-first"])
def test_attention_counted_once_whatever_its_form(module: torch.nn.Module) -> None:
    assert count_macs(module.eval(), torch.rand(1, L, E)) == ATTENTION


def test_products_and_linear_layers() -> None:
    class Products(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(8, 3)
            self.w = torch.nn.Parameter(torch.randn(8, 6))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.bmm(x, x.transpose(1, 2))  # (2, 4, 4): 32 outputs × 8
            z = torch.baddbmm(y, x, x.transpose(1, 2))  # the same again
            return self.fc(x).sum() + (x @ self.w).sum() + z.sum()  # 24 × 8 and 48 × 8

    assert count_macs(Products().eval(), torch.rand(2, 4, 8)) == 32 * 8 * 2 + 24 * 8 + 48 * 8


def test_convolutions_unchanged() -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 1),
                              torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 10))
    assert count_macs(net.eval(), torch.rand(1, 3, 4, 4)) == 16 * 8 * 27 + 16 * 8 * 8 + 10 * 128
