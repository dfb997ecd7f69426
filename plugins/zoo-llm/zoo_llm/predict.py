"""Predictors, options and bench probes of the llm and vlm tasks (built on the core's TaskDef).

A predictor's one component is the 'model' session (a ``LlamaSession``). ``predictor(prompt)``
returns the finished ``Generation``; ``predictor.stream(prompt)`` yields text as it comes (what
``zoo run`` prints) and ``predictor.chat(messages)`` continues a conversation with the model's own
chat template (what ``zoo chat`` drives; llama.cpp reuses the KV cache of the turns before).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from zoo.errors import InputError
from zoo.results.text import Generation, text_agreement
from zoo.tasks import Predictor, Probe, TaskOption
from zoo_llm import catalog
from zoo_llm.runtime import LlamaSession, Stream

CHAT_TEMPLATES: dict[str, str] = {"gemma3": catalog.GEMMA_TURNS}
"""Chat templates by model family, for GGUFs that ship none (their own always wins)."""

PARITY_PROMPTS = ("Why is the sky blue?", "Write one sentence about the sea.", "The capital of France is")
BENCH_TEXT = (
    "The sky is blue because molecules in the air scatter short wavelengths of sunlight more than long ones. "
    "This is called Rayleigh scattering, and it is why sunsets look red. "
)


def _non_negative(value: float) -> str | None:
    return None if value >= 0 else "must be zero or more"


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be positive"


def llm_options() -> tuple[TaskOption, ...]:
    commands = ("run", "chat")
    return (
        TaskOption("max_tokens", int, 256, "most tokens to generate", commands, _positive),
        TaskOption(
            "temperature", float, 0.8, "sampling temperature (0: greedy, reproducible)", commands, _non_negative
        ),
        TaskOption("seed", int, None, "sampling seed (default: random)", commands),
        TaskOption("system", str, None, "a system message (needs a chat template)", commands),
    )


def vlm_options() -> tuple[TaskOption, ...]:
    return (TaskOption("prompt", str, "Describe this image in one sentence.", "the question about the image"),
            *llm_options())  # fmt: skip


def parity_prompts(spec: Any) -> list[str]:
    return list(PARITY_PROMPTS)


class LLMPredictor(Predictor):
    """Prompt (or chat messages) in, ``Generation`` out, through the 'model' LlamaSession."""

    @property
    def session(self) -> LlamaSession:
        return self.sessions["model"]  # type: ignore[return-value]

    def template(self) -> str | None:
        """The model's own chat template, else the family's (see CHAT_TEMPLATES), else None."""
        return self.session.chat_template or CHAT_TEMPLATES.get(self.spec.family or "")

    def prompt_for(self, item: Any, options: Mapping[str, Any]) -> str | list[dict[str, Any]]:
        """A chat when the model has a template of its own, or when messages or a system message are
        given; a plain completion of the text otherwise (a base model without a template)."""
        system = options.get("system")
        if isinstance(item, str):
            if not item.strip():
                raise InputError("the prompt is empty; give some text")
            if self.session.chat_template is None and system is None:
                return item
            messages: list[dict[str, Any]] = [{"role": "user", "content": item}]
        elif isinstance(item, Sequence) and all(isinstance(m, Mapping) for m in item):
            messages = [dict(m) for m in item]
        else:
            raise InputError(f"expected a prompt (text) or chat messages, got {type(item).__name__}")
        if system and not (messages and messages[0].get("role") == "system"):
            messages.insert(0, {"role": "system", "content": system})
        if self.template() is None:
            raise InputError(f"{self.spec.id} has no chat template; give a plain prompt without --system")
        return messages

    def _generate(self, item: Any, options: Mapping[str, Any], image: Any = None) -> Stream:
        return self.session.generate(  # type: ignore[return-value]
            self.prompt_for(item, options),
            max_tokens=int(options.get("max_tokens") or 256),
            temperature=float(options["temperature"] if options.get("temperature") is not None else 0.8),
            seed=options.get("seed"),
            image=image,
            chat_template=self.template(),
            stream=True,
        )

    def stream(self, item: Any, **options: Any) -> Stream:
        """Text pieces as they are generated; the Stream's ``result`` once it is exhausted."""
        return self._generate(item, self.task.resolve_options(options))

    def chat(self, messages: Sequence[Mapping[str, Any]], **options: Any) -> Stream:
        """One assistant turn after ``messages`` (system, user, assistant, ..., user)."""
        return self._generate(list(messages), self.task.resolve_options(options))

    def predict(self, item: Any, options: Mapping[str, Any]) -> Generation:
        gen = self._generate(item, options).collect()
        self._record(gen)
        return gen

    def _record(self, gen: Generation) -> None:
        self.times["infer"] = gen.total_ms
        self.times["ttft"] = gen.ttft_ms
        if gen.image_encode_ms is not None:
            self.times["image_encode"] = gen.image_encode_ms

    def reset(self) -> None:
        self.session.reset()
        super().reset()


class VLMPredictor(LLMPredictor):
    """An image (RGB uint8, a frame or a path) and ``prompt`` in, the answer out."""

    def prompt_for(self, item: Any, options: Mapping[str, Any]) -> str | list[dict[str, Any]]:
        messages: list[dict[str, Any]] = [{"role": "user", "content": str(options.get("prompt") or "")}]
        if not messages[0]["content"].strip():
            raise InputError("the prompt is empty; ask something about the image")
        if options.get("system"):
            messages.insert(0, {"role": "system", "content": options["system"]})
        if self.template() is None:
            raise InputError(f"{self.spec.id} has no chat template to place the image in")
        return messages

    def predict(self, item: Any, options: Mapping[str, Any]) -> Generation:
        from zoo.images import as_image

        gen = self._generate(item, options, image=as_image(item)).collect()
        self._record(gen)
        return gen

    def stream(self, item: Any, **options: Any) -> Stream:
        from zoo.images import as_image

        return self._generate(item, self.task.resolve_options(options), image=as_image(item))


def bench_tokens(session: LlamaSession, n: int) -> list[int]:
    """Exactly ``n`` prompt tokens of English text (BOS first)."""
    first, more = session.tokenize(BENCH_TEXT), session.tokenize(BENCH_TEXT, add_special=False)
    tokens = list(first)
    while len(tokens) < n:
        tokens += more
    return tokens[:n]


def _pp(session: LlamaSession, tokens: list[int]) -> Callable[[], float]:
    return lambda: session.eval_tokens(tokens)


def _text_probes(session: LlamaSession) -> list[Probe]:
    probes = []
    for n in (64, 512):
        if n < session.n_ctx:
            probes.append(Probe(f"pp{n}", _pp(session, bench_tokens(session, n)),
                                f"prompt processing: {n} tokens into an empty KV cache", items=n, unit="token",
                                runs=None if n <= 64 else 10, warmup=2))  # fmt: skip
    if session.n_ctx > 129:
        probes.append(Probe("tg128", lambda: session.generate("", max_tokens=128, temperature=0.0, ignore_eos=True,
                                                              stream=False),
                            "generation: 128 tokens after BOS, greedy, end-of-text ignored", items=128,
                            unit="token", runs=5, warmup=1))  # fmt: skip
    return probes


def llm_probes(predictor: Predictor, item: Any) -> list[Probe]:
    """pp64, pp512 (prompt tokens/s), tg128 (generation tokens/s), ttft (a 64-token prompt to its
    first token, cache cleared) and pipeline (the prompt to 32 greedy tokens, as `zoo run` would)."""
    session: LlamaSession = predictor.sessions["model"]  # type: ignore[assignment]
    prompt64 = "".join(session.piece(t).decode("utf-8", "replace") for t in bench_tokens(session, 64)[1:])

    def ttft() -> Generation:
        session.reset()
        return session.generate(prompt64, max_tokens=1, temperature=0.0, stream=False)  # type: ignore[return-value]

    def pipeline() -> Any:
        session.reset()
        return predictor(item, max_tokens=32, temperature=0.0, seed=0)

    return [*_text_probes(session),
            Probe("ttft", ttft, "time to first token: a 64-token prompt, cache cleared", items=1, unit="prompt"),
            Probe("pipeline", pipeline, "the prompt to 32 greedy tokens through the predictor", items=1,
                  unit="request", runs=10, warmup=1)]  # fmt: skip


def vlm_probes(predictor: Predictor, item: Any) -> list[Probe]:
    """image_encode (the projector alone), ttft (image + question to the first token), the text
    probes of the language model, and pipeline (image + question to 32 greedy tokens)."""
    from zoo.images import as_image

    session: LlamaSession = predictor.sessions["model"]  # type: ignore[assignment]
    image = as_image(item)

    def ttft() -> Any:
        return predictor(image, max_tokens=1, temperature=0.0, seed=0)

    def pipeline() -> Any:
        return predictor(image, max_tokens=32, temperature=0.0, seed=0)

    return [Probe("image_encode", lambda: session.encode_image(image), "the projector encoding one image",
                  items=1, unit="image"),
            Probe("ttft", ttft, "image + question to the first token", items=1, unit="prompt", runs=10, warmup=1),
            *_text_probes(session),
            Probe("pipeline", pipeline, "image + question to 32 greedy tokens", items=1, unit="request", runs=10,
                  warmup=1)]  # fmt: skip


__all__ = ["CHAT_TEMPLATES", "LLMPredictor", "VLMPredictor", "llm_probes", "vlm_probes", "text_agreement"]
