"""Params and MACs counted from the model itself (torch side, at export time)."""

from __future__ import annotations

from typing import Any

from zoo.deps import require


def count_params(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def count_macs(model: Any, example: Any) -> int:
    """Multiply-accumulates of one forward pass: convolutions, linear layers, matrix products and
    attention.

    Convolutions are counted from their modules (forward hooks); everything else from the torch
    functions the forward calls, seen by a ``TorchFunctionMode`` at the outermost level only (a
    function called inside a counted one is not counted again): ``F.linear`` (``nn.Linear`` and
    linear layers written with their weights), ``matmul``/``@``/``mm``/``bmm``/``addmm``/
    ``baddbmm``, ``scaled_dot_product_attention`` (QKᵀ and AV), and ``nn.MultiheadAttention``
    (its Q, K, V and output projections plus QKᵀ and AV). Element-wise ops (BN, activations, adds,
    softmax) are not counted, as in torchvision's and the seed table's convention (resnet18: 1.814 G).
    """
    torch = require("torch", "export", "to count MACs")
    nn = torch.nn
    total = 0

    def conv_hook(mod: Any, _inp: Any, out: Any) -> None:
        nonlocal total
        kernel = 1
        for k in mod.kernel_size:
            kernel *= k
        total += out.numel() * (mod.in_channels // mod.groups) * kernel

    def convt_hook(mod: Any, inp: Any, _out: Any) -> None:
        nonlocal total
        kernel = 1
        for k in mod.kernel_size:
            kernel *= k
        total += inp[0].numel() * (mod.out_channels // mod.groups) * kernel

    counters = _function_counters(torch)

    class Counter(torch.overrides.TorchFunctionMode):  # type: ignore[misc,name-defined]
        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            nonlocal total
            kwargs = kwargs or {}
            out = func(*args, **kwargs)  # the mode is off inside: nested calls are not seen
            count = counters.get(func)
            if count is not None:
                total += int(count(out, *args, **kwargs))
            return out

    handles = []
    for mod in model.modules():
        if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            handles.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, (nn.ConvTranspose1d, nn.ConvTranspose2d)):
            handles.append(mod.register_forward_hook(convt_hook))
    try:
        with torch.no_grad(), Counter():
            model(*example) if isinstance(example, tuple) else model(example)
    finally:
        for h in handles:
            h.remove()
    return int(total)


def _function_counters(torch: Any) -> dict[Any, Any]:
    """torch function → (output, *args, **kwargs) → MACs of that call."""
    F = torch.nn.functional

    def first(out: Any) -> Any:
        return out[0] if isinstance(out, (tuple, list)) else out

    def inner(a: Any) -> int:
        return int(a.shape[-1]) if a.dim() else 1

    def matmul(out: Any, a: Any, b: Any, *rest: Any, **kw: Any) -> int:
        return int(first(out).numel()) * inner(a)

    def rmatmul(out: Any, a: Any, b: Any, *rest: Any, **kw: Any) -> int:  # b @ a
        return int(first(out).numel()) * inner(b)

    def add_product(out: Any, _input: Any, a: Any, b: Any, *rest: Any, **kw: Any) -> int:  # addmm, baddbmm
        return int(first(out).numel()) * inner(a)

    def linear(out: Any, x: Any, weight: Any, *rest: Any, **kw: Any) -> int:
        return int(first(out).numel()) * int(weight.shape[-1])

    def sdpa(out: Any, q: Any, k: Any, v: Any, *rest: Any, **kw: Any) -> int:
        rows = q.numel() // q.shape[-1]  # batch × heads × L queries
        return int(rows * k.shape[-2] * (q.shape[-1] + v.shape[-1]))

    def attention(q_tokens: int, k_tokens: int, batch: int, dim: int) -> int:
        """Q projection, K and V projections, QKᵀ and AV over all heads, output projection."""
        return q_tokens * dim * dim + 2 * k_tokens * dim * dim + 2 * q_tokens * (k_tokens // batch) * dim + \
            q_tokens * dim * dim

    def mha(out: Any, query: Any, key: Any, value: Any, dim: int, *rest: Any, **kw: Any) -> int:
        # F.multi_head_attention_forward takes (L, N, E) or unbatched (L, E)
        batch = int(query.shape[1]) if query.dim() == 3 else 1
        return attention(query.numel() // dim, key.numel() // dim, batch, dim)

    def native_mha(out: Any, query: Any, key: Any, value: Any, dim: int, *rest: Any, **kw: Any) -> int:
        # the fast path (torch._native_multi_head_attention) takes batch-first (N, L, E)
        batch = int(query.shape[0]) if query.dim() == 3 else 1
        return attention(query.numel() // dim, key.numel() // dim, batch, int(dim))

    table: dict[Any, Any] = {
        F.linear: linear,
        torch.matmul: matmul,
        torch.mm: matmul,
        torch.bmm: matmul,
        torch.Tensor.matmul: matmul,
        torch.Tensor.__matmul__: matmul,
        torch.Tensor.__rmatmul__: rmatmul,
        torch.Tensor.mm: matmul,
        torch.Tensor.bmm: matmul,
        torch.addmm: add_product,
        torch.baddbmm: add_product,
        torch.Tensor.addmm: add_product,
        torch.Tensor.baddbmm: add_product,
        F.scaled_dot_product_attention: sdpa,
        F.multi_head_attention_forward: mha,
    }
    native = getattr(torch, "_native_multi_head_attention", None)
    if native is not None:
        table[native] = native_mha
    return table


def count_sparsity(model: Any) -> float:
    """Fraction of exactly-zero weights over conv and linear layers (the card's sparsity column)."""
    torch = require("torch", "export", "to measure sparsity")
    zeros = total = 0
    for mod in model.modules():
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
            w = mod.weight.detach()
            zeros += int((w == 0).sum())
            total += w.numel()
    return zeros / total if total else 0.0
