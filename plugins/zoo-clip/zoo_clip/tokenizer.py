"""CLIP's byte-level BPE tokenizer (OpenAI's, as open_clip runs it), with no torch.

What it reproduces, token for token, is open_clip's ``SimpleTokenizer`` with ``clean='lower'``
(the tokenizer of every OpenAI/LAION CLIP checkpoint):

1. clean: ``ftfy.fix_text``, HTML entities unescaped twice, whitespace runs collapsed to one
   space (``str.split``: any Unicode whitespace), stripped, lower-cased;
2. split into words by CLIP's pattern (contractions, letter runs, single digits, runs of other
   non-space characters; ``<start_of_text>``/``<end_of_text>`` typed in the text count as the
   special tokens, as upstream);
3. each word as UTF-8 bytes mapped to printable characters (GPT-2's byte alphabet), ``</w>``
   on its last symbol, then merged pair by pair, lowest merge rank first;
4. ``[<start_of_text>] + ids + [<end_of_text>]``, cut to the context length with the last id
   forced back to ``<end_of_text>``, zero-padded.

Why written here and not imported: open_clip's tokenizer module imports torch (and open_clip's
``__init__`` imports torchvision), which a Pi does not have. The merge loop is the only part
written here; text repair and Unicode-aware splitting come from ``ftfy`` and ``regex``, the
libraries open_clip itself uses. Hugging Face ``tokenizers`` was the alternative: it would add a
native wheel for a loop over a few words per label, and it splits special tokens out of the raw
text before pre-tokenisation, where open_clip matches them inside its word pattern (so e.g.
``"<<end_of_text>"`` tokenises differently).

The vocabulary is OpenAI's ``bpe_simple_vocab_16e6.txt.gz`` (MIT, 1.36 MB), vendored unmodified in
``zoo_clip/data/`` with OpenAI's licence notice beside it: the board needs it without torch, and
the only package that ships it (open_clip_torch) needs torch and torchvision. Its sha256 is
checked on every load.
"""

from __future__ import annotations

import gzip
import hashlib
import html
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from zoo.errors import InputError

VOCAB_FILE = "bpe_simple_vocab_16e6.txt.gz"
VOCAB_SHA256 = "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a"
CONTEXT_LENGTH = 77
VOCAB_SIZE = 49408
SOT, EOT = "<start_of_text>", "<end_of_text>"
_MERGES = VOCAB_SIZE - 2 * 256 - 2  # 48894 merge rules after the 512 byte symbols, before the 2 specials
_WORD_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


def byte_alphabet() -> dict[int, str]:
    """GPT-2's reversible map from the 256 byte values to printable Unicode characters.

    Printable Latin-1 bytes map to themselves; the other 68 (controls, space, soft hyphen...)
    to U+0100 onwards, in byte order, so no symbol is whitespace or a control character. The
    dict's order is the vocabulary's: the 188 printable bytes first, then the 68 others (token
    ids 0..255 follow it, so "a" is 64 and "a</w>" 320).
    """
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = {b: chr(b) for b in printable}
    others = [b for b in range(256) if b not in table]
    table.update({b: chr(0x100 + i) for i, b in enumerate(others)})
    return table


def clean(text: str) -> str:
    """open_clip's ``clean='lower'``: ftfy repair, HTML unescape (twice), whitespace, lower case."""
    import ftfy

    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return " ".join(text.split()).lower()


def find_vocabulary() -> Path:
    """OpenAI's BPE merges file, vendored in this package (``zoo_clip/data``)."""
    path = Path(__file__).resolve().parent / "data" / VOCAB_FILE
    if not path.is_file():
        raise InputError(f"{path}: CLIP's vocabulary is missing from the zoo-clip package; reinstall zoo-clip")
    return path


@dataclass(frozen=True)
class Tokens:
    """Token ids for a batch of texts, and what was cut."""

    ids: np.ndarray
    """(N, context) int64, zero-padded; row i is ``<start_of_text> ... <end_of_text>``."""
    eot: np.ndarray
    """(N,) int64: the position of each row's ``<end_of_text>`` (what open_clip's argmax finds)."""
    truncated: tuple[bool, ...]
    """Per text: it had more tokens than fit, and was cut (keeping ``<end_of_text>`` last)."""

    def eot_onehot(self) -> np.ndarray:
        """(N, context) float32 one-hot of :attr:`eot`: the text tower's second input."""
        onehot = np.zeros(self.ids.shape, np.float32)
        onehot[np.arange(len(self.eot)), self.eot] = 1.0
        return onehot


class Tokenizer:
    """CLIP's tokenizer. Stateless apart from a cache of words already split."""

    def __init__(self, vocabulary: str | Path | None = None, context_length: int = CONTEXT_LENGTH) -> None:
        import regex

        path = Path(vocabulary) if vocabulary is not None else find_vocabulary()
        if not path.is_file():
            raise InputError(f"{path}: no such vocabulary file; pass CLIP's {VOCAB_FILE}")
        payload = path.read_bytes()
        if hashlib.sha256(payload).hexdigest() != VOCAB_SHA256:
            raise InputError(
                f"{path}: not OpenAI's CLIP vocabulary (sha256 differs); pass the {VOCAB_FILE} that "
                "open_clip ships"
            )
        lines = gzip.decompress(payload).decode("utf-8").split("\n")
        merges = [tuple(line.split()) for line in lines[1 : 1 + _MERGES]]
        symbols = list(byte_alphabet().values())
        vocab = [*symbols, *(s + "</w>" for s in symbols), *("".join(m) for m in merges), SOT, EOT]
        self.encoder: dict[str, int] = {s: i for i, s in enumerate(vocab)}
        self.decoder: dict[int, str] = dict(enumerate(vocab))
        self.ranks: dict[tuple[str, ...], int] = {m: i for i, m in enumerate(merges)}
        self.bytes_to_symbol = byte_alphabet()
        self.symbol_to_byte = {s: b for b, s in self.bytes_to_symbol.items()}
        self.sot_id, self.eot_id = self.encoder[SOT], self.encoder[EOT]
        self.context_length = context_length
        self.vocab_size = len(vocab)
        self._pattern = regex.compile(f"{SOT}|{EOT}|{_WORD_PATTERN}", regex.IGNORECASE)
        self._bpe = lru_cache(maxsize=65536)(self._merge_word)

    def _merge_word(self, word: str) -> tuple[str, ...]:
        """BPE of one word (already in byte symbols): repeatedly merge the best-ranked adjacent pair."""
        if word in (SOT, EOT):
            return (word,)
        parts = [*word[:-1], word[-1] + "</w>"]
        while len(parts) > 1:
            pairs = {(a, b) for a, b in zip(parts, parts[1:], strict=False)}
            best = min(pairs, key=lambda p: self.ranks.get(p, _MERGES))
            if best not in self.ranks:
                break
            merged: list[str] = []
            i = 0
            while i < len(parts):
                if i + 1 < len(parts) and (parts[i], parts[i + 1]) == best:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        return tuple(parts)

    def encode(self, text: str) -> list[int]:
        """Ids of ``text`` without start/end tokens or truncation."""
        ids: list[int] = []
        for word in self._pattern.findall(clean(text)):
            symbols = "".join(self.bytes_to_symbol[b] for b in word.encode("utf-8"))
            ids.extend(self.encoder[p] for p in self._bpe(symbols))
        return ids

    def decode(self, ids: list[int] | np.ndarray) -> str:
        """Text of one row of ids: after ``<start_of_text>``, up to the first ``<end_of_text>``."""
        seq = [int(i) for i in ids]
        if seq and seq[0] == self.sot_id:
            seq = seq[1:]
        if self.eot_id in seq:
            seq = seq[: seq.index(self.eot_id)]
        words = "".join(self.decoder[i] for i in seq).split("</w>")
        raw = b" ".join(bytes(self.symbol_to_byte[c] for c in w) for w in words)
        return raw.decode("utf-8", errors="replace").strip()

    def __call__(self, texts: str | list[str] | tuple[str, ...]) -> Tokens:
        """Tokenise a text or a list of texts to fixed-length rows, as open_clip's ``tokenize``."""
        batch = [texts] if isinstance(texts, str) else list(texts)
        if not all(isinstance(t, str) for t in batch):
            raise InputError("CLIP's tokenizer takes text: a string or a list of strings")
        ids = np.zeros((len(batch), self.context_length), np.int64)
        eot = np.zeros(len(batch), np.int64)
        truncated = []
        for row, text in enumerate(batch):
            seq = [self.sot_id, *self.encode(text), self.eot_id]
            cut = len(seq) > self.context_length
            if cut:
                seq = [*seq[: self.context_length - 1], self.eot_id]
            ids[row, : len(seq)] = seq
            eot[row] = int(np.argmax(ids[row]))  # the first EOT, as open_clip's text.argmax(-1) picks
            truncated.append(cut)
        return Tokens(ids=ids, eot=eot, truncated=tuple(truncated))
