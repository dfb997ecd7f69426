"""Models named by where they are: hf:// files listed with the sha256 the Hub publishes (LFS
metadata) and verified against it, and a plugin's ``resolve_model`` turning a name such as
``hf://ORG/REPO/*.npz`` into a spec the core runs, benchmarks (in the worker, by id) and remembers
(offline runs by id or by the same name) — all against the local Hub-compatible server."""

from __future__ import annotations

import hashlib
import io
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from zoo.cli import cli
from zoo.errors import ChecksumError, DownloadError
from zoo.sources import fetch, hf_repo, hf_sha256
from zoo.specs import WeightsRef

from .localserver import LocalServer, Served, commit_of

PLUGIN = '''
"""zoo-npy: a numpy runtime for prebuilt .npz classifiers, and hf:// names resolved to them."""

import fnmatch
from pathlib import Path

import numpy as np

from zoo import hookimpl
from zoo.sources import hf_repo, parse_hf_uri
from zoo.specs import ArtifactRef, ModelSpec, PostSpec, PreSpec, TensorSpec, WeightsRef


class NpySession:
    input_names, output_names = ["in0"], ["out0"]

    def __init__(self, path):
        with np.load(path) as data:
            self.weight = data["weight"]

    def run(self, inputs):
        return {"out0": (np.asarray(inputs["in0"], np.float64).reshape(1, -1) @ self.weight.T).astype(np.float32)}

    def close(self):
        pass


class NpyRuntime:
    name, formats, extra = "npy", ("npz",), "npy"

    def unavailable_reason(self):
        return None

    def version(self):
        return np.__version__

    def options_for(self, precision):
        return {}

    def check(self, fmt, files):
        if not Path(files["model"]).is_file():
            raise ValueError("no model file")

    def describe(self, fmt, files):
        with np.load(files["model"]) as data:
            return {"params": int(data["weight"].size), "input": "rgb 8x8"}

    def load(self, fmt, files, *, threads, options, outputs=(), inputs=()):
        return NpySession(files["model"])


@hookimpl
def register_runtimes(register):
    register(NpyRuntime())


@hookimpl
def resolve_model(name):
    if not (name.startswith("hf://") and name.split("@")[0].endswith(".npz")):
        return None
    repo_id, pattern, revision = parse_hf_uri(name)
    listing = hf_repo(repo_id, revision)
    (found,) = [f for f in listing.files if fnmatch.fnmatchcase(f.path, pattern)]
    ref = WeightsRef(uri=f"hf://{repo_id}/{found.path}@{listing.commit}", sha256=found.sha256, format="npz",
                     license=listing.license)
    return ModelSpec(
        id=repo_id.lower().replace("/", "."), task="classifier", runtime="npy", recipes={},
        inputs=(TensorSpec(name="in0", shape=(1, 3, 8, 8)),), outputs=(TensorSpec(name="out0", shape=(1, 4)),),
        pre=PreSpec(kind="resize", size=(8, 8)), post=PostSpec(decoder="topk", params={"top_k": 2}),
        artifacts={"fp32": ArtifactRef(runtime="npy", format="npz", files={"model": ref})},
    )
'''


def npz(seed: int) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, weight=np.random.default_rng(seed).standard_normal((4, 3 * 8 * 8)))
    return buf.getvalue()


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    state = Served(files={"/acme/toy-npz/resolve/main/toy.npz": npz(0),
                          "/acme/toy-npz/resolve/main/README.md": b"# toy\n"},
                   git_files={"/acme/toy-npz/resolve/main/README.md"},
                   card_data={"acme/toy-npz": {"license": "mit"}})  # fmt: skip
    with LocalServer(state) as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.url)
        import huggingface_hub.constants as constants

        monkeypatch.setattr(constants, "ENDPOINT", srv.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", srv.url + "/{repo_id}/resolve/{revision}/{filename}")
        yield srv


def test_hub_listing_and_its_sha256_verify_downloads(hub: LocalServer) -> None:
    listing = hf_repo("acme/toy-npz")
    files = {f.path: f for f in listing.files}
    assert listing.commit == commit_of(hub.state.files, "acme/toy-npz") and listing.license == "mit"
    data = hub.state.files["/acme/toy-npz/resolve/main/toy.npz"]
    assert files["toy.npz"].sha256 == hashlib.sha256(data).hexdigest() and files["toy.npz"].size == len(data)
    assert files["README.md"].sha256 is None  # kept in git: the Hub gives no sha256
    assert hf_sha256("hf://acme/toy-npz/toy.npz") == files["toy.npz"].sha256
    # no sha256 in the registry: the Hub's is asked for, and checked
    assert fetch(WeightsRef(uri="hf://acme/toy-npz/toy.npz", format="npz")).read_bytes() == data
    with pytest.raises(DownloadError, match="publishes no sha256"):
        fetch(WeightsRef(uri="hf://acme/toy-npz/README.md", format="raw"))
    with pytest.raises(DownloadError, match="offline mode cannot ask the Hub"):
        fetch(WeightsRef(uri="hf://acme/toy-npz/other.npz", format="npz"), offline=True)
    with pytest.raises(DownloadError, match="could not list"):
        hf_repo("acme/missing")
    hub.state.files["/acme/toy-npz/resolve/main/lie.npz"] = npz(1)
    hub.state.lfs_sha256["/acme/toy-npz/resolve/main/lie.npz"] = "0" * 64  # the listing and the bytes disagree
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        fetch(WeightsRef(uri="hf://acme/toy-npz/lie.npz", format="npz"))


@pytest.fixture
def npy_plugin(install_plugin):  # type: ignore[no-untyped-def]
    return install_plugin("npy", textwrap.dedent(PLUGIN))


def _ok(*args: str) -> str:
    res = CliRunner().invoke(cli, list(args))
    assert res.exit_code == 0, res.output
    return res.stdout


def test_a_name_resolved_by_a_plugin_runs_benches_and_is_remembered(
    hub: LocalServer, npy_plugin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zoo import registry

    image = Path(__file__).resolve().parents[2] / "zoo" / "data" / "images" / "chelsea.jpg"
    name = "hf://acme/toy-npz/*.npz"
    pulled = json.loads(_ok("pull", name, "--json"))
    assert pulled["model"] == "acme.toy-npz" and Path(pulled["path"], "export.json").is_file()
    manifest = json.loads(Path(pulled["path"], "export.json").read_text())
    assert manifest["weights"]["source"] == f"hf://acme/toy-npz/toy.npz@{commit_of(hub.state.files, 'acme/toy-npz')}" and manifest["weights"]["license"] == "mit"
    assert manifest["params"] == 4 * 192 and manifest["extra"]["model_facts"]["input"] == "rgb 8x8"
    first = json.loads(_ok("run", name, str(image), "--json"))
    assert first["model"] == "acme.toy-npz" and len(first["top"]) == 2

    cards = json.loads(_ok("bench", name, "--threads", "1", "--runs", "2", "--cards", str(tmp_path / "cards"), "--json"))
    (card,) = cards  # the worker process found the model by its id, remembered in the cache
    assert card["model"] == "acme.toy-npz" and card["precision"] == "fp32" and card["input_resolution"] == "rgb 8x8"
    assert card["params"] == 4 * 192 and card["recipe"] == {} and card["license"] == "mit"
    (readme,) = (tmp_path / "cards").glob("acme.toy-npz__npy-fp32__*/README.md")
    text = readme.read_text()
    assert "**Model** (read from the artifact): params 768, input rgb 8x8" in text and "**Export**: none" in text

    hub.state.files.clear()  # the Hub is gone: the remembered spec serves the id and the name
    registry.reset()
    assert json.loads(_ok("run", "acme.toy-npz", str(image), "--json"))["top"] == first["top"]
    registry.reset()
    assert json.loads(_ok("run", name, str(image), "--json"))["top"] == first["top"]
    res = CliRunner().invoke(cli, ["run", "hf://acme/other-npz/*.npz", str(image)])
    assert res.exit_code == 1 and len(res.stderr.strip().splitlines()) == 1 and "could not list" in res.stderr
