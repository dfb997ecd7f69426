"""Publish a card (and optionally its ncnn artifacts) to the Hugging Face Hub with huggingface_hub."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from zoo.card import ModelCard, load_cards
from zoo.deps import require
from zoo.errors import DownloadError, InputError


def push_card(
    model: str,
    repo_id: str,
    dtype: str | None = None,
    artifacts: Path | None = None,
    cards_root: Path | None = None,
    token: str | None = None,
    private: bool = False,
) -> str:
    """Upload the README.md + card.json of ``model``'s cards (one folder per dtype/hardware), plus
    the files of an export folder when ``artifacts`` is given. Returns the commit URL."""
    hub = require("huggingface_hub", "hub", "to publish cards")
    cards: list[ModelCard] = [c for c in load_cards(cards_root) if c.model == model and dtype in (None, c.precision)]
    if not cards:
        raise InputError(f"no card for {model!r}{' ' + dtype if dtype else ''}; run zoo bench {model} first")
    if "/" not in repo_id:
        raise InputError(f"--repo {repo_id!r} must be ORG/NAME")
    with tempfile.TemporaryDirectory(prefix="zoo-push-") as tmp:
        stage = Path(tmp)
        for card in cards:
            shutil.copytree(card.path(cards_root), stage / card.card_id)
        # The repo's front page is the card of the first dtype; the others sit in their folders.
        shutil.copyfile(cards[0].path(cards_root) / "README.md", stage / "README.md")
        if artifacts is not None:
            if not (artifacts / "export.json").is_file():
                raise InputError(
                    f"{artifacts}: not a zoo export folder (no export.json); pass the folder zoo export wrote"
                )
            shutil.copytree(artifacts, stage / "ncnn" / artifacts.name)
        api = hub.HfApi(token=token)
        try:
            api.create_repo(repo_id, exist_ok=True, private=private)
            info = api.upload_folder(folder_path=str(stage), repo_id=repo_id, commit_message=f"zoo: cards for {model}")
        except Exception as err:  # the hub client raises HTTP, auth and connection errors of many kinds
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise DownloadError(f"pushing to {repo_id} failed ({type(err).__name__}: {first[:200]})") from err
    return str(getattr(info, "commit_url", info))
