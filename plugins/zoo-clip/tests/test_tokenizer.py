"""CLIP's tokenizer: known ids, truncation, bad input; and token-for-token equality with open_clip."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from zoo.errors import InputError
from zoo_clip.tokenizer import CONTEXT_LENGTH, VOCAB_SIZE, Tokenizer, byte_alphabet, clean

TRICKY = [
    "",
    "a photo of a cat",
    "A PHOTO OF A CAT",
    "  lots\t\tof\n\nwhitespace\u00a0and\u2003unicode spaces  ",
    "café, naïve, Zoë, São Paulo, Ærøskøbing, straße",
    "日本語のテキスト and 中文 and 한국어",
    "emoji 😀🐈‍⬛👩‍👩‍👧 and flags 🇫🇷",
    "html &amp; entities &lt;b&gt;bold&lt;/b&gt; &quot;quoted&quot; &#39;single&#39; &amp;amp; double",
    "mojibake: The Mona Lisa doesnÃ¢â‚¬â„¢t have eyebrows.",
    "punctuation!!! ??? ... --- ,,, ;;; :-) (parens) [brackets] {braces} @#$%^&*",
    "numbers 3.14159 1,000,000 2026-11-30 007 1e-9",
    "contractions: it's, don't, we're, they've, I'm, you'll, he'd, IT'S",
    "typed specials <start_of_text> middle <end_of_text> after, and <<end_of_text>",
    "word " * 100,
    "supercalifragilisticexpialidocious pneumonoultramicroscopicsilicovolcanoconiosis " * 6,
    "\u0000control\u0007chars\u200bzero width\ufeff",
]


@pytest.fixture(scope="module")
def tok(vocabulary: Path) -> Tokenizer:
    return Tokenizer(vocabulary)


def test_byte_alphabet_is_a_bijection_to_printable_characters() -> None:
    table = byte_alphabet()
    assert sorted(table) == list(range(256)) and len(set(table.values())) == 256
    assert all(not c.isspace() and c.isprintable() for c in table.values())
    assert list(table)[:3] == [33, 34, 35] and table[32] == "\u0120"


def test_clean_matches_open_clip_rules() -> None:
    assert clean("  Hello\t\nWORLD  ") == "hello world"
    assert clean("&amp;amp;") == "&"  # unescaped twice
    assert clean("doesnÃ¢â‚¬â„¢t") == "doesn't"  # ftfy repairs mojibake


def test_known_ids(tok: Tokenizer) -> None:
    t = tok("a photo of a cat")
    assert tok.vocab_size == VOCAB_SIZE and (tok.sot_id, tok.eot_id) == (49406, 49407)
    assert t.ids.shape == (1, CONTEXT_LENGTH) and t.ids.dtype == np.int64
    # OpenAI's published tokenisation of this prompt
    assert t.ids[0, :7].tolist() == [49406, 320, 1125, 539, 320, 2368, 49407] and not t.ids[0, 7:].any()
    assert t.eot.tolist() == [6] and t.truncated == (False,)
    onehot = t.eot_onehot()
    assert onehot.dtype == np.float32 and onehot.sum() == 1.0 and onehot[0, 6] == 1.0
    assert tok.decode(t.ids[0]) == "a photo of a cat"


def test_empty_text_is_start_and_end(tok: Tokenizer) -> None:
    t = tok("")
    assert t.ids[0, :2].tolist() == [49406, 49407] and t.eot.tolist() == [1]


def test_long_text_is_truncated_keeping_eot_and_reported(tok: Tokenizer) -> None:
    t = tok(["word " * 100, "short"])
    assert t.truncated == (True, False)
    assert t.ids[0, -1] == tok.eot_id and t.eot[0] == CONTEXT_LENGTH - 1
    assert (t.ids[0, 1:-1] != 0).all()
    exact = "word " * (CONTEXT_LENGTH - 2)  # fits exactly: sot + 75 words + eot
    assert tok(exact).truncated == (False,) and tok(exact + "word").truncated == (True,)


def test_bad_inputs(tok: Tokenizer, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="takes text"):
        tok([1, 2])  # type: ignore[list-item]
    with pytest.raises(InputError, match="no such vocabulary"):
        Tokenizer(tmp_path / "missing.txt.gz")
    (tmp_path / "other.txt.gz").write_bytes(b"\x1f\x8b not this one")
    with pytest.raises(InputError, match="not OpenAI's CLIP vocabulary"):
        Tokenizer(tmp_path / "other.txt.gz")


def test_tokens_equal_open_clip(tok: Tokenizer, tmp_path: Path, upstream_python: str) -> None:
    """Token for token against open_clip's own tokenizer, run in the upstream Python."""
    exe = upstream_python
    (tmp_path / "texts.json").write_text(json.dumps(TRICKY))
    script = Path(__file__).with_name("upstream_reference.py")
    proc = subprocess.run([exe, str(script), "tokens", str(tmp_path / "texts.json"), str(tmp_path / "ids.npz")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = np.load(tmp_path / "ids.npz")["ids"]
    mine = tok(TRICKY)
    for i, text in enumerate(TRICKY):
        assert mine.ids[i].tolist() == theirs[i].tolist(), f"text {i} {text[:40]!r}"
    # the EOT position open_clip pools at is the one the one-hot marks
    np.testing.assert_array_equal(mine.eot, theirs.argmax(-1))
    assert sum(mine.truncated) == 2
