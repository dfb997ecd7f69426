"""Any GGUF on the Hugging Face Hub as a model: ``hf://ORG/REPO/FILE.gguf`` or a file pattern
(``hf://ORG/REPO/*Q4_K_M.gguf``), optionally ``@REVISION``.

The core asks the plugin's ``resolve_model`` hook for names it does not know; this module turns
such a name into a ModelSpec: the repository is listed once (``zoo.sources.hf_repo``: each file's
size and the sha256 the Hub publishes in its LFS metadata), the pattern must match exactly one
language-model GGUF, and the revision is pinned to the commit listed. A repository that also holds
an ``mmproj*.gguf`` (a multimodal projector) makes a VLM. The files are then fetched through
huggingface_hub's cache and checked against those sha256 by the core, like any other artifact.

The model's id is ``org.repo`` (lowercase); its precision is the GGUF type the file name carries
(``Q4_K_M`` → q4_k_m), so two files of one repository are two precisions of one model and get
two cards.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import PurePosixPath

from zoo.errors import InputError
from zoo.sources import HubFile, HubRepo, hf_repo, parse_hf_uri
from zoo.specs import ArtifactRef, ComponentSpec, ModelSpec, WeightsRef

_QUANT = re.compile(
    r"(?:^|[-_.])((?:i?q[1-8](?:_[a-z0-9]+)*)|f16|bf16|f32|fp16)(?=\.gguf$|[-_.])", re.IGNORECASE
)
_SPLIT = re.compile(r"-\d{5}-of-\d{5}\.gguf$", re.IGNORECASE)


def is_gguf_name(name: str) -> bool:
    return name.startswith("hf://") and name.split("@", 1)[0].lower().endswith(".gguf")


def precision_of(filename: str) -> str:
    """The GGUF type a file name carries ('model-Q4_K_M.gguf' → 'q4_k_m'); 'gguf' if none."""
    found = _QUANT.findall(PurePosixPath(filename).name)
    return found[-1].lower().replace("fp16", "f16") if found else "gguf"


def _is_mmproj(f: HubFile) -> bool:
    return PurePosixPath(f.path).name.lower().startswith("mmproj")


def pick(listing: HubRepo, pattern: str) -> tuple[HubFile, HubFile | None]:
    """The one language-model GGUF ``pattern`` matches (case-insensitive, on the path in the repo),
    and the repository's mmproj if it has one (the one of the same type, else f16, else the first)."""
    ggufs = [f for f in listing.files if f.path.lower().endswith(".gguf")]
    where = f"hf://{listing.repo_id}"
    if not ggufs:
        raise InputError(f"{where}: the repository holds no .gguf file")
    models = [f for f in ggufs if not _is_mmproj(f) and fnmatch.fnmatchcase(f.path.lower(), pattern.lower())]
    if not models:
        names = ", ".join(f.path for f in ggufs if not _is_mmproj(f))[:300]
        raise InputError(f"{where}/{pattern}: matches no model GGUF (it has: {names})")
    if len(models) > 1:
        names = ", ".join(f.path for f in models)[:300]
        raise InputError(f"{where}/{pattern}: matches {len(models)} files ({names}); name one")
    (model,) = models
    if _SPLIT.search(model.path):
        raise InputError(f"{where}/{model.path}: a split GGUF (one of several parts) is not supported; pick a whole file")
    projectors = sorted((f for f in ggufs if _is_mmproj(f)), key=lambda f: f.path)
    want = precision_of(model.path)
    mmproj = next((f for f in projectors if precision_of(f.path) == want), None)
    mmproj = mmproj or next((f for f in projectors if precision_of(f.path) == "f16"), None)
    return model, mmproj or (projectors[0] if projectors else None)


def _ref(listing: HubRepo, f: HubFile) -> WeightsRef:
    if f.sha256 is None:
        raise InputError(
            f"hf://{listing.repo_id}/{f.path}: the Hub publishes no sha256 for it (not an LFS file), so it "
            "cannot be verified"
        )
    return WeightsRef(uri=f"hf://{listing.repo_id}/{f.path}@{listing.commit}", sha256=f.sha256, size=f.size,
                      format="gguf", license=listing.license)  # fmt: skip


def model_id(repo_id: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", repo_id.lower().replace("/", "."))


def resolve(name: str) -> ModelSpec:
    """The spec ``name`` (hf://ORG/REPO/FILE-or-PATTERN.gguf[@REV]) points at; one line if none."""
    repo_id, pattern, revision = parse_hf_uri(name)
    listing = hf_repo(repo_id, revision)
    model, mmproj = pick(listing, pattern)
    files = {"model": _ref(listing, model)}
    if mmproj is not None:
        files["mmproj"] = _ref(listing, mmproj)
    precision = precision_of(model.path)
    vision = f" + {mmproj.path}" if mmproj else ""
    return ModelSpec(
        id=model_id(repo_id),
        task="vlm" if mmproj else "llm",
        description=f"{model.path}{vision} from the Hugging Face Hub ({repo_id} at {listing.commit[:12]})",
        source=f"hf://{repo_id}@{listing.commit}",
        components={"model": ComponentSpec(description="the GGUF language model" + (" and its mmproj" if mmproj else ""))},
        runtime="llama.cpp",
        recipes={},
        artifacts={precision: ArtifactRef(runtime="llama.cpp", format="gguf", files=files)},
        license=listing.license,
    )
