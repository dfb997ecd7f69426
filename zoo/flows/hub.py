"""The Hugging Face Hub round trip: ``zoo card push`` and ``zoo pull hf://ORG/REPO[@REV]``.

A pushed repository holds, for one model:

    README.md                      the front page: every measured row (runtime × precision ×
                                   threads × hardware), licence, usage (zoo pull + zoo run)
    <runtime>-<precision>/         each export: export.json and its artifact files, nothing else
    cards/<card id>/               each card: card.json and its README.md

``zoo pull hf://ORG/REPO`` fetches the exports through huggingface_hub (its cache, HF_ENDPOINT,
HF_TOKEN), checks each against its manifest (sha256 of every file) and places it in zoo's cache,
where ``zoo run NAME`` / ``zoo bench NAME`` on a board without torch find it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from zoo.card import ModelCard, load_cards, render_hf_readme
from zoo.convert.manifest import MANIFEST, ExportManifest
from zoo.deps import require
from zoo.errors import ConfigError, DownloadError, InputError
from zoo.flows.artifacts import ExportResult, open_export, weights_tag
from zoo.paths import atomic_dir, cache_dir
from zoo.registry import Registry, get_registry


def _hub_error(what: str, err: Exception) -> DownloadError:
    first = str(err).splitlines()[0] if str(err) else type(err).__name__
    return DownloadError(f"{what} failed ({type(err).__name__}: {first[:200]})")


def export_for_card(card: ModelCard, registry: Registry | None = None) -> Path | None:
    """The cached export folder whose artifacts are the card's (same files, same sha256s)."""
    root = cache_dir() / "artifacts" / card.model.split("@")[0]
    want = {(a.file, a.sha256) for a in card.artifacts}
    if not want or not root.is_dir():
        return None
    for folder in sorted(root.iterdir()):
        if not (folder / MANIFEST).is_file():
            continue
        try:
            manifest = ExportManifest.load(folder)
        except ConfigError:
            continue
        if (manifest.runtime, manifest.precision) == (card.runtime, card.precision) and want == {
            (a.file, a.sha256) for a in manifest.artifacts
        }:
            return folder
    return None


def front_page(cards: list[ModelCard], repo_id: str, registry: Registry | None = None) -> str:
    """The repository's README: the first card's metadata, every card's rows."""
    reg = registry or get_registry()
    primary = next((c for c in cards if (c.runtime, c.precision) == ("ncnn", "fp32")), cards[0])
    hub = reg.tasks[primary.task].value.hub if primary.task in reg.tasks else None
    rows = [row for c in cards for row in c.rows()]
    return render_hf_readme(primary, hub.pipeline_tag if hub else None, hub.tags if hub else (), rows, repo_id)


def push_card(
    model: str,
    repo_id: str,
    precision: str | None = None,
    artifacts: list[Path] | None = None,
    cards_root: Path | None = None,
    token: str | None = None,
    private: bool = False,
    registry: Registry | None = None,
) -> str:
    """Upload ``model``'s cards, each card's export (found in the cache, or given), and a front
    page listing every row. Returns the commit URL."""
    hub = require("huggingface_hub", "hub", "to publish cards")
    cards = [c for c in load_cards(cards_root) if c.model == model and precision in (None, c.precision)]
    if not cards:
        raise InputError(f"no card for {model!r}{' ' + precision if precision else ''}; run zoo bench {model} first")
    if "/" not in repo_id or repo_id.count("/") != 1:
        raise InputError(f"--repo {repo_id!r} must be ORG/NAME")
    given: dict[tuple[str, str], ExportResult] = {}
    for folder in artifacts or []:
        exp = open_export(folder, registry=registry)
        if exp.manifest.model != model.split("@")[0]:
            raise InputError(f"{folder}: an export of {exp.manifest.model!r}, not of {model!r}")
        given[(exp.manifest.runtime, exp.manifest.precision)] = exp
    with tempfile.TemporaryDirectory(prefix="zoo-push-") as tmp:
        stage = Path(tmp)
        for card in cards:
            shutil.copytree(card.path(cards_root), stage / "cards" / card.card_id)
            key = (card.runtime, card.precision)
            found = given[key].folder if key in given else export_for_card(card, registry)
            if found is None or (stage / f"{card.runtime}-{card.precision}").exists():
                continue
            manifest = ExportManifest.load(found)
            dest = stage / f"{card.runtime}-{card.precision}"
            dest.mkdir()
            for name in [MANIFEST, *(a.file for a in manifest.artifacts)]:
                shutil.copyfile(found / name, dest / name)
        (stage / "README.md").write_text(front_page(cards, repo_id, registry), encoding="utf-8")
        api = hub.HfApi(token=token)
        try:
            api.create_repo(repo_id, exist_ok=True, private=private)
            info = api.upload_folder(folder_path=str(stage), repo_id=repo_id, commit_message=f"zoo: {model}")
        except Exception as err:  # the hub client raises HTTP, auth and connection errors of many kinds
            raise _hub_error(f"pushing to {repo_id}", err) from err
    return str(getattr(info, "commit_url", info))


def parse_repo_uri(uri: str) -> tuple[str, str | None]:
    """hf://ORG/REPO[@REV] → (repo_id, revision)."""
    body = uri.removeprefix("hf://").strip("/")
    revision = None
    if "@" in body:
        body, revision = body.rsplit("@", 1)
    if body.count("/") != 1 or not all(body.split("/")):
        raise InputError(f"{uri}: pull takes hf://ORG/REPO[@REVISION], e.g. hf://acme/yolov8n-zoo")
    return body, revision or None


def pull_exports(uri: str, registry: Registry | None = None, offline: bool = False) -> list[ExportResult]:
    """Every export folder of the repository at ``uri``, checked and placed in the cache."""
    hub = require("huggingface_hub", "hub", "to pull from the Hugging Face Hub")
    reg = registry or get_registry()
    repo_id, revision = parse_repo_uri(uri)
    try:
        local = Path(
            hub.snapshot_download(
                repo_id=repo_id, revision=revision, allow_patterns=["*/export.json", "*/*.param", "*/*.bin",
                "*/*.onnx", "*/*.gguf", "*/*.npz", "README.md"], local_files_only=offline,
            )
        )  # fmt: skip
    except Exception as err:  # the hub client's errors are many; all mean "could not fetch"
        raise _hub_error(f"pulling {uri}", err) from err
    folders = sorted(p.parent for p in local.glob(f"*/{MANIFEST}"))
    if not folders:
        raise InputError(f"{uri}: holds no zoo export (no <runtime>-<precision>/{MANIFEST}); push one with zoo card push")
    pulled = []
    for folder in folders:
        manifest = ExportManifest.load(folder)
        spec = reg.get(manifest.model)
        checked = open_export(folder, spec, registry=reg)  # every file against its sha256 before it is used
        target = (
            cache_dir() / "artifacts" / spec.id
            / f"{manifest.runtime}-{manifest.precision}-hub-{weights_tag(manifest.weights)}"
        )  # fmt: skip
        if not (target / MANIFEST).is_file() or (target / MANIFEST).read_bytes() != (folder / MANIFEST).read_bytes():
            with atomic_dir(target) as work:
                for name in [MANIFEST, *(a.file for a in checked.manifest.artifacts)]:
                    _link_or_copy((folder / name).resolve(), work / name)
        pulled.append(open_export(target, spec, registry=reg))
    return pulled


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def describe_pulled(exports: list[ExportResult]) -> list[dict[str, Any]]:
    return [{"model": e.manifest.model, "runtime": e.manifest.runtime, "precision": e.manifest.precision,
             "folder": str(e.folder), "weights": e.manifest.weights.source} for e in exports]  # fmt: skip

