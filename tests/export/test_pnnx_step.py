"""The core's trace → pnnx steps on small modules: integer inputs reach ncnn as int32 ids, and a
.param holding ops pnnx left unconverted is refused at export (pnnx itself exits 0)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pnnx")
pytest.importorskip("ncnn")

from zoo.convert.chain import ExportContext  # noqa: E402
from zoo.convert.steps import pnnx_step, trace_step, unconverted_ops  # noqa: E402
from zoo.errors import ExportError, InputError  # noqa: E402
from zoo.runtimes.ncnn import NcnnRuntime  # noqa: E402
from zoo.runtimes.ncnn.driver import to_ncnn_array  # noqa: E402
from zoo.runtimes.ncnn.session import FP32_OPTIONS  # noqa: E402
from zoo.specs import ModelSpec, TensorSpec  # noqa: E402


class Embedder(torch.nn.Module):
    """Token ids → embeddings → a linear layer: ncnn's Embed reads its input as int32."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(300, 8)
        self.proj = torch.nn.Linear(8, 4)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.proj(self.embed(ids))


class ArgmaxGather(torch.nn.Module):
    """A data-dependent gather (open_clip's EOT pooling): pnnx has no ncnn layer for it."""

    def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)]


def export(tmp_path: Path, module: torch.nn.Module, inputs: tuple[TensorSpec, ...]) -> dict[str, Path]:
    spec = ModelSpec(id="tiny", task="test", inputs=inputs, outputs=())
    ctx = ExportContext(spec=spec, role="model", precision="fp32", work_dir=tmp_path.resolve(),
                        model_factory=lambda: module.eval())
    traced = trace_step(ctx, {})
    return pnnx_step(ctx, traced.outputs).outputs


def test_integer_ids_are_fed_as_int32_bits() -> None:
    ids = np.array([[0, 1, 2, 299]], np.int64)
    arr = to_ncnn_array(ids)
    assert arr.dtype == np.float32 and arr.shape == (4,)
    assert arr.view(np.int32).tolist() == [0, 1, 2, 299]  # the bits are the ids, not 0.0, 1.0, ...
    assert to_ncnn_array(np.array([[1.0, 2.0]], np.float32)).tolist() == [1.0, 2.0]


def test_integer_input_through_pnnx_and_ncnn(tmp_path: Path) -> None:
    module = Embedder()
    spec_in = (TensorSpec(name="in0", shape=(1, 6), dtype="int64"),)
    files = export(tmp_path, module, spec_in)
    ids = np.array([[5, 0, 299, 17, 17, 256]], np.int64)
    with torch.no_grad():
        want = module(torch.from_numpy(ids)).numpy()
    session = NcnnRuntime().load("ncnn", files, threads=1, options=FP32_OPTIONS, inputs=spec_in,
                                 outputs=(TensorSpec(name="out0", shape=(1, 6, 4)),))
    got = session.run({"in0": ids})["out0"]
    assert got.shape == want.shape and np.abs(got - want).max() < 1e-5
    # an integer input given as whole floats is converted to ids, not fed as float bits
    assert np.abs(session.run({"in0": ids.astype(np.float32)})["out0"] - want).max() < 1e-5
    with pytest.raises(InputError, match="takes int64 values"):
        session.run({"in0": ids + 0.5})
    # without the declared dtype, floats reach Embed as float bits: wrong rows (what the core did before)
    plain = NcnnRuntime().load("ncnn", files, threads=1, options=FP32_OPTIONS)
    assert np.abs(plain.run({"in0": ids.astype(np.float32)})["out0"].reshape(want.shape) - want).max() > 1e-3
    session.close()
    plain.close()


def test_unconverted_ops_are_an_export_error(tmp_path: Path) -> None:
    inputs = (TensorSpec(name="in0", shape=(1, 5, 4)), TensorSpec(name="in1", shape=(1, 5), dtype="int64"))
    with pytest.raises(ExportError, match=r"pnnx left .*torch\.argmax.* unconverted in tiny \(model\)"):
        export(tmp_path, ArgmaxGather(), inputs)


def test_unconverted_ops_reads_layer_types(tmp_path: Path) -> None:
    param = tmp_path / "m.param"
    param.write_text("7767517\n3 3\nInput in0 0 1 in0\ntorch.argmax argmax_0 1 1 in0 1\n"
                     "Tensor.index index_0 1 1 1 out0\n")
    assert unconverted_ops(param) == {"Tensor.index": 1, "torch.argmax": 1}
