"""Generated text (an LLM's completion, a VLM's answer): what ``zoo run`` prints (streamed as it
comes when the predictor offers ``stream``), ``--json`` dumps and the bench reads.

Timings come from llama.cpp's own performance counters (``llama_perf_context``: prompt and
generation eval time and token counts) where it has them, and from the wall clock around the
stream for what only the caller sees (time to first token, total).
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np

StopReason = Literal["eos", "length", "stop", "context"]
"""eos: the model ended its turn; length: max_tokens reached; stop: a stop string appeared;
context: the context window is full."""


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    """Tokens in the prompt (images count as the tokens their embeddings fill)."""
    completion_tokens: int
    stop_reason: StopReason
    ttft_ms: float
    """Wall time from the call to the first generated token (tokenize + prompt eval + first sample)."""
    prompt_eval_ms: float
    """llama.cpp's prompt evaluation time (prefix reused from the cache is not evaluated again)."""
    generation_ms: float
    """llama.cpp's time evaluating generated tokens (one decode per token after the first)."""
    total_ms: float
    prompt_evaluated: int
    """Prompt tokens llama.cpp actually evaluated (fewer than prompt_tokens when a prefix was cached)."""
    image_encode_ms: float | None = None
    """VLM only: time the projector took to turn the image into embeddings."""
    image_tokens: int | None = None

    @property
    def prompt_tokens_per_s(self) -> float | None:
        return (
            self.prompt_evaluated / self.prompt_eval_ms * 1e3
            if self.prompt_eval_ms > 0 and self.prompt_evaluated
            else None
        )

    @property
    def generation_tokens_per_s(self) -> float | None:
        """Generated tokens per second after the first (the first one's cost is in the TTFT)."""
        decoded = self.completion_tokens - 1
        return decoded / self.generation_ms * 1e3 if self.generation_ms > 0 and decoded > 0 else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["prompt_tokens_per_s"] = _round(self.prompt_tokens_per_s)
        out["generation_tokens_per_s"] = _round(self.generation_tokens_per_s)
        for key in ("ttft_ms", "prompt_eval_ms", "generation_ms", "total_ms", "image_encode_ms"):
            out[key] = _round(out[key])
        return out

    def summary(self) -> str:
        return self.text.strip() + "\n[" + self.stats() + "]"

    def stats(self) -> str:
        """How it ran, in one line (printed after a streamed answer, whose text is already out)."""
        gen = self.generation_tokens_per_s
        pp = self.prompt_tokens_per_s
        parts = [
            f"{self.prompt_tokens} prompt + {self.completion_tokens} generated tokens ({self.stop_reason})",
            f"TTFT {self.ttft_ms:.0f} ms",
        ]
        if pp is not None:
            parts.append(f"prompt {pp:.1f} tok/s")
        if gen is not None:
            parts.append(f"generation {gen:.1f} tok/s")
        if self.image_encode_ms is not None:
            parts.append(f"image encode {self.image_encode_ms:.0f} ms")
        return ", ".join(parts)

    def draw(self, image: np.ndarray) -> np.ndarray:
        """The answer written in a band under ``image`` (RGB uint8 HxWx3): a VLM's caption."""
        from PIL import Image, ImageDraw, ImageFont

        im = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).convert("RGB")
        w, h = im.size
        size = max(10, min(w, h) // 24)
        try:
            font: Any = ImageFont.load_default(size=size)
        except TypeError:  # Pillow < 10.1: one fixed size
            font = ImageFont.load_default()
        left, top, right, bottom = font.getbbox("Mg")
        char_w = max(1.0, (right - left) / 2)
        line_h = (bottom - top) + size // 3
        wrapped = textwrap.wrap(" ".join(self.text.split()) or "(no text)", width=max(8, int((w - 8) / char_w))) or [""]
        band = len(wrapped) * line_h + 8
        out = Image.new("RGB", (w, h + band), (0, 0, 0))
        out.paste(im, (0, 0))
        pen = ImageDraw.Draw(out)
        for i, line in enumerate(wrapped):
            pen.text((4, h + 4 + i * line_h), line, fill=(255, 255, 255), font=font)
        return np.asarray(out)


def text_agreement(reference: list[Any], candidate: list[Any]) -> dict[str, float]:
    """How closely one pipeline's generations reproduce another's on the same prompts (greedy):
    the share of identical texts and the mean share of the reference matched before the first
    difference (q4_k_m vs q8_0 of one model, or zoo vs another llama.cpp build)."""
    pairs = list(zip(reference, candidate, strict=True))
    if not pairs:
        return {"exact_match": 0.0, "common_prefix": 0.0}
    exact = sum(r.text == c.text for r, c in pairs) / len(pairs)
    prefix = 0.0
    for r, c in pairs:
        n = len(os.path.commonprefix([r.text, c.text]))
        prefix += n / len(r.text) if r.text else float(not c.text)
    return {"exact_match": exact, "common_prefix": prefix / len(pairs)}


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)
