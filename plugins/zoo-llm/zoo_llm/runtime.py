"""The llama.cpp runtime: GGUF files in, a session that streams generated tokens out.

``LlamaCppRuntime`` is the object the plugin registers through ``register_runtimes``: name
'llama.cpp', artifact format 'gguf' (file roles 'model' and, for a VLM, 'mmproj'), extra 'llm'.
Its ``load`` checks the files (``gguf_check``), probe-loads untrusted ones in a child process
(``probe``), then opens a ``LlamaSession`` in-process.

``LlamaSession`` drives llama-cpp-python's ``Llama`` at the level a careful user would: tokenize,
``Llama.generate`` (llama.cpp's own sampler chain, KV-cache prefix reuse between chat turns),
incremental UTF-8 detokenization, and llama.cpp's performance counters for the timings. It adds
no work per token beyond one ``llama_token_to_piece`` call and a clock read, so its tokens/s stay
within a few percent of bare llama-cpp-python (``benchmarks/llm_vs_llamacpp.py`` measures it).
A VLM session also holds a libmtmd context for the projector: the image is encoded (timed on its
own) and its embeddings decoded into the KV cache before the text that follows it.
"""

from __future__ import annotations

import codecs
import ctypes
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ConfigError, InputError
from zoo.results.text import Generation, StopReason
from zoo_llm import logtap

DEFAULT_N_CTX_MAX = 4096
"""Context used when the model allows more: gemma3-270m declares 32,768, whose KV cache a Pi's
memory should not pay for by default. ``n_ctx`` in the runtime options raises or lowers it."""

Message = Mapping[str, Any]
"""A chat message: {'role': 'system'|'user'|'assistant', 'content': str}."""


def missing_reason() -> str | None:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return "llama-cpp-python is not installed; install the llm extra: pip install 'zoo[llm]'"
    return None


class LlamaCppRuntime:
    """llama.cpp through llama-cpp-python (``zoo.runtimes.Runtime``)."""

    name = "llama.cpp"
    formats = ("gguf",)
    extra = "llm"
    file_roles = ("model", "mmproj")
    """'model' is required; 'mmproj' (a multimodal projector) makes a VLM session."""

    def unavailable_reason(self) -> str | None:
        return missing_reason()

    def version(self) -> str:
        from zoo_llm.probe import llama_cpp_version

        return llama_cpp_version()

    def options_for(self, precision: str) -> dict[str, Any]:
        """GGUF precision is the file's own type (q4_k_m, q8_0, f16): nothing to switch, so every
        precision runs with the same options, recorded in the card."""
        return {"n_ctx_max": DEFAULT_N_CTX_MAX, "n_batch": 512, "n_ubatch": 512, "flash_attn": False,
                "probe": "auto"}  # fmt: skip

    def check(self, fmt: str, files: Mapping[str, Path]) -> None:
        from zoo_llm.gguf_check import check_gguf, check_pair

        self._check_roles(fmt, files)
        model = check_gguf(files["model"], "model")
        if "mmproj" in files:
            check_pair(model, check_gguf(files["mmproj"], "mmproj"))

    def describe(self, fmt: str, files: Mapping[str, Path]) -> dict[str, Any]:
        """What the GGUF header says (no llama.cpp load), for the manifest and the card."""
        from zoo_llm.gguf_check import check_gguf

        self._check_roles(fmt, files)
        info = check_gguf(files["model"], "model")
        ctx = info.context_length
        run_ctx = min(ctx, DEFAULT_N_CTX_MAX) if ctx else DEFAULT_N_CTX_MAX
        facts: dict[str, Any] = {
            "architecture": info.architecture,
            "name": info.metadata.get("general.name"),
            "params": info.n_params,
            "file_type": info.file_type,
            "context_length": ctx,
            "license": info.metadata.get("general.license"),
            "chat_template": "tokenizer.chat_template" in info.metadata,
            "vocab_size": len(info.metadata.get("tokenizer.ggml.tokens") or ()),
            "input": f"text, ctx {run_ctx}",
        }
        if "mmproj" in files:
            proj = check_gguf(files["mmproj"], "mmproj")
            facts["mmproj_params"] = proj.n_params
            facts["projector"] = proj.metadata.get("clip.projector_type") or proj.metadata.get(
                "clip.vision.projector_type"
            )
            size = proj.metadata.get("clip.vision.image_size")
            facts["input"] = f"image {size}x{size} + text, ctx {run_ctx}" if size else f"image + text, ctx {run_ctx}"
        return facts

    def load(
        self,
        fmt: str,
        files: Mapping[str, Path],
        *,
        threads: int,
        options: Mapping[str, Any],
        outputs: Sequence[Any] = (),
        inputs: Sequence[Any] = (),
    ) -> LlamaSession:
        from zoo_llm import probe

        self._check_roles(fmt, files)
        reason = missing_reason()
        if reason:
            from zoo.errors import MissingDependencyError

            raise MissingDependencyError("llama_cpp", self.extra, "to run GGUF models")
        model = Path(files["model"])
        mmproj = Path(files["mmproj"]) if "mmproj" in files else None
        mode = str(options.get("probe", "auto"))
        if mode not in ("auto", "always", "never"):
            raise ConfigError(f"runtime option probe={mode!r}: choose auto, always or never")
        shas = None
        if mode != "never":
            shas = [probe.file_sha256(model)] + ([probe.file_sha256(mmproj)] if mmproj else [])
        if mode == "never" or not probe.is_trusted(shas or []):
            self.check(fmt, files)  # one clear line for what a header can tell, before any load
        probe.ensure_safe(model, mmproj, mode=mode, shas=shas)
        return LlamaSession(
            model,
            threads=threads,
            mmproj=mmproj,
            n_ctx=options.get("n_ctx"),
            n_ctx_max=int(options.get("n_ctx_max", DEFAULT_N_CTX_MAX)),
            n_batch=int(options.get("n_batch", 512)),
            n_ubatch=int(options.get("n_ubatch", 512)),
            flash_attn=bool(options.get("flash_attn", False)),
            seed=options.get("seed"),
        )

    def _check_roles(self, fmt: str, files: Mapping[str, Path]) -> None:
        if fmt not in self.formats:
            raise ConfigError(f"the llama.cpp runtime cannot load {fmt!r} artifacts (it loads: gguf)")
        if "model" not in files:
            raise ConfigError("a llama.cpp component needs a 'model' GGUF file (and optionally an 'mmproj')")
        unknown = sorted(set(files) - set(self.file_roles))
        if unknown:
            raise ConfigError(f"the llama.cpp runtime takes files 'model' and 'mmproj', not {unknown}")


@dataclass
class _Perf:
    prompt_ms: float
    prompt_n: int
    eval_ms: float
    eval_n: int


class Stream:
    """Text pieces as llama.cpp generates them; ``result`` (a Generation) once exhausted.

    ``close()`` (or leaving a ``with`` block) stops generation early; the result then says so."""

    def __init__(self, run: Callable[[Stream], Iterator[str]]) -> None:
        self.result: Generation | None = None
        self._it = run(self)

    def __iter__(self) -> Iterator[str]:
        return self._it

    def __next__(self) -> str:
        return next(self._it)

    def close(self) -> None:
        self._it.close()  # type: ignore[attr-defined]

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def collect(self) -> Generation:
        for _ in self._it:
            pass
        if self.result is None:
            raise RuntimeError("generation was closed before it finished")
        return self.result


class LlamaSession:
    """One GGUF model (and optionally its mmproj) loaded by llama.cpp. Call ``close()`` when done."""

    def __init__(
        self,
        model: Path | str,
        *,
        threads: int,
        mmproj: Path | str | None = None,
        n_ctx: int | None = None,
        n_ctx_max: int = DEFAULT_N_CTX_MAX,
        n_batch: int = 512,
        n_ubatch: int = 512,
        flash_attn: bool = False,
        seed: int | None = None,
        verbose: bool = False,
    ) -> None:
        """``verbose=True`` leaves stderr open while llama.cpp loads (llama-cpp-python otherwise
        points it at /dev/null): the probe child uses it so the parent can quote an abort message."""
        import llama_cpp

        logtap.install()
        self.path = Path(model)
        self.mmproj_path = Path(mmproj) if mmproj is not None else None
        self.threads = int(threads)
        if self.threads < 1:
            raise ConfigError(f"threads must be at least 1, got {threads}")
        self._llm: Any = None
        self._mtmd: Any = None
        self._formatters: dict[str, Any] = {}
        mark = logtap.mark()
        t0 = time.perf_counter_ns()
        try:
            from zoo_llm.gguf_check import peek_context_length

            n_ctx_train = peek_context_length(self.path) or 0  # sizes the context before the load
            if n_ctx is None:
                n_ctx = min(n_ctx_train, n_ctx_max) if n_ctx_train > 0 else n_ctx_max
            n_ctx = int(min(n_ctx, n_ctx_train)) if n_ctx_train > 0 else int(n_ctx)
            self._llm = llama_cpp.Llama(
                str(self.path),
                n_threads=self.threads,
                n_threads_batch=self.threads,
                n_ctx=n_ctx,
                n_batch=min(n_batch, n_ctx),
                n_ubatch=min(n_ubatch, n_batch, n_ctx),
                flash_attn=flash_attn,
                seed=llama_cpp.LLAMA_DEFAULT_SEED if seed is None else int(seed),
                verbose=verbose,
            )
        except ValueError as err:
            reason = logtap.last_reason(mark) or str(err)
            raise InputError(f"{self.path}: llama.cpp could not load this model ({reason})") from None
        self.n_ctx_train = int(llama_cpp.llama_model_n_ctx_train(self._llm.model)) or n_ctx_train
        self.n_ctx = int(self._llm.n_ctx())
        self._vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
        self._piece_buf = ctypes.create_string_buffer(256)
        self.metadata: dict[str, str] = dict(self._llm.metadata)
        self.chat_template: str | None = self.metadata.get("tokenizer.chat_template") or None
        if self.mmproj_path is not None:
            self._init_mtmd(mark)
        self.load_ms = (time.perf_counter_ns() - t0) / 1e6

    # -- what it is ---------------------------------------------------------------------------------
    @property
    def architecture(self) -> str:
        return self.metadata.get("general.architecture", "")

    @property
    def n_params(self) -> int:
        import llama_cpp

        return int(llama_cpp.llama_model_n_params(self._llm.model))

    @property
    def size_bytes(self) -> int:
        import llama_cpp

        return int(llama_cpp.llama_model_size(self._llm.model))

    @property
    def file_type(self) -> str | None:
        from zoo_llm.gguf_check import file_type_name

        value = self.metadata.get("general.file_type")
        return file_type_name(int(value)) if value is not None and value.isdigit() else None

    @property
    def has_vision(self) -> bool:
        return self._mtmd is not None

    def facts(self) -> dict[str, Any]:
        """What the GGUF says about the model, for the card (architecture, size, precision, context)."""
        return {
            "architecture": self.architecture,
            "name": self.metadata.get("general.name"),
            "params": self.n_params,
            "size_bytes": self.size_bytes,
            "file_type": self.file_type,
            "context_length": self.n_ctx_train,
            "n_ctx": self.n_ctx,
            "license": self.metadata.get("general.license"),
            "chat_template": "gguf" if self.chat_template else None,
            "vision": self.has_vision,
            "threads": self.threads,
            "load_ms": round(self.load_ms, 1),
        }

    @property
    def bos_token(self) -> int:
        return int(self._llm.token_bos())

    # -- tokens --------------------------------------------------------------------------------------
    def tokenize(self, text: str, *, add_special: bool = True, parse_special: bool = False) -> list[int]:
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=add_special, special=parse_special))

    def piece(self, token: int, special: bool = False) -> bytes:
        import llama_cpp

        n = llama_cpp.llama_token_to_piece(self._vocab, token, self._piece_buf, len(self._piece_buf), 0, special)
        if n < 0:  # a piece longer than the buffer: grow it once
            self._piece_buf = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, self._piece_buf, -n, 0, special)
        return self._piece_buf.raw[:n]

    def is_eog(self, token: int) -> bool:
        import llama_cpp

        return bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))

    def render_chat(self, messages: Sequence[Message], *, chat_template: str | None = None) -> str:
        """The prompt the model's own chat template (``tokenizer.chat_template``) makes of ``messages``;
        ``chat_template`` is used only when the GGUF has none."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self.chat_template or chat_template
        if not template:
            raise InputError(
                f"{self.path.name} has no chat template (tokenizer.chat_template); give a plain prompt instead"
            )
        formatter = self._formatters.get(template)
        if formatter is None:  # compiling a template takes ~7 ms: once per template, not per turn
            formatter = self._formatters[template] = Jinja2ChatFormatter(
                template=template,
                eos_token=self.piece(int(self._llm.token_eos()), special=True).decode("utf-8", "replace"),
                bos_token=self.piece(self.bos_token, special=True).decode("utf-8", "replace"),
            )
        try:
            return formatter(messages=[dict(m) for m in messages]).prompt  # type: ignore[misc]
        except Exception as err:  # jinja2 TemplateError or the template's own raise_exception
            raise InputError(f"{self.path.name}: its chat template failed on these messages ({err})") from None

    # -- running -------------------------------------------------------------------------------------
    def eval_tokens(self, tokens: Sequence[int]) -> float:
        """Evaluate ``tokens`` from an empty KV cache (prompt processing); returns the wall ms."""
        if len(tokens) > self.n_ctx:
            raise InputError(f"{len(tokens)} tokens do not fit the context of {self.n_ctx}")
        self._llm.reset()
        self._llm._ctx.kv_cache_clear()
        t0 = time.perf_counter_ns()
        self._llm.eval(list(tokens))
        return (time.perf_counter_ns() - t0) / 1e6

    def generate(
        self,
        prompt: str | Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.8,
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        repeat_penalty: float = 1.0,
        seed: int | None = None,
        stop: Sequence[str] = (),
        ignore_eos: bool = False,
        image: np.ndarray | None = None,
        chat_template: str | None = None,
        stream: bool = True,
    ) -> Stream | Generation:
        """Generate from a prompt (a string, completed as is) or chat messages (rendered with the
        model's chat template). With ``image`` (RGB uint8 HxWx3) the session needs an mmproj.

        ``stream=True`` returns a ``Stream`` of text pieces (``.result`` when done); else the
        finished ``Generation``."""
        if max_tokens < 1:
            raise InputError(f"max_tokens must be at least 1, got {max_tokens}")
        if image is not None and self._mtmd is None:
            raise InputError(f"{self.path.name} was loaded without an mmproj; it cannot read images")
        sampling = {"temp": float(temperature), "top_k": int(top_k), "top_p": float(top_p), "min_p": float(min_p),
                    "repeat_penalty": float(repeat_penalty)}  # fmt: skip
        if seed is not None:
            self._llm.set_seed(int(seed))

        def run(holder: Stream) -> Iterator[str]:
            t0 = time.perf_counter_ns()
            self._perf_reset()
            image_ms = image_tokens = None
            if image is None:
                text = prompt if isinstance(prompt, str) else self.render_chat(prompt, chat_template=chat_template)
                tokens = self.tokenize(
                    text, add_special=isinstance(prompt, str), parse_special=not isinstance(prompt, str)
                )
                self._fits(len(tokens))
                n_prompt = len(tokens)
                gen = self._llm.generate(tokens, reset=True, **sampling)
            else:
                n_prompt, image_ms, image_tokens = self._eval_multimodal(prompt, image, chat_template)
                gen = self._llm.generate([], reset=False, **sampling)
            yield from self._stream(holder, gen, t0, n_prompt, max_tokens, stop, ignore_eos, image_ms, image_tokens)
            if image is not None:
                self._llm.reset()  # image positions hold no token ids: never reuse them as a prefix

        s = Stream(run)
        return s if stream else s.collect()

    def _fits(self, n_prompt: int) -> None:
        if n_prompt + 1 > self.n_ctx:
            raise InputError(
                f"the prompt is {n_prompt} tokens but {self.path.name} runs with a context of {self.n_ctx} tokens"
                + (
                    f" (the model allows up to {self.n_ctx_train}: raise n_ctx)"
                    if self.n_ctx_train > self.n_ctx
                    else ""
                )
                + "; shorten the prompt"
            )

    def _stream(
        self,
        holder: Stream,
        gen: Any,
        t0: int,
        n_prompt: int,
        max_tokens: int,
        stop: Sequence[str],
        ignore_eos: bool,
        image_ms: float | None,
        image_tokens: int | None,
    ) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pieces: list[str] = []
        held = ""  # text not yet yielded because it may be the start of a stop string
        hold = max((len(s) for s in stop), default=0)
        reason: StopReason = "length"
        n_out = 0
        ttft_ns: int | None = None
        room = self.n_ctx - n_prompt
        try:
            for token in gen:
                if ttft_ns is None:
                    ttft_ns = time.perf_counter_ns() - t0
                if not ignore_eos and self.is_eog(token):
                    reason = "eos"
                    break
                n_out += 1
                text = decoder.decode(self.piece(token))
                if text:
                    if hold:
                        held += text
                        cut = min((i for i in (held.find(s) for s in stop) if i >= 0), default=-1)
                        if cut >= 0:
                            held = held[:cut]
                            reason = "stop"
                            break
                        text, held = held[: max(0, len(held) - hold + 1)], held[max(0, len(held) - hold + 1) :]
                    if text:
                        pieces.append(text)
                        yield text
                if n_out >= max_tokens:
                    break
                if n_out >= room:
                    reason = "context"
                    break
        finally:
            gen.close()
        tail = held + (decoder.decode(b"", final=True) if reason != "stop" else "")
        if tail:
            pieces.append(tail)
            yield tail
        total_ns = time.perf_counter_ns() - t0
        perf = self._perf()
        holder.result = Generation(
            text="".join(pieces),
            prompt_tokens=n_prompt,
            completion_tokens=n_out,
            stop_reason=reason,
            ttft_ms=(ttft_ns if ttft_ns is not None else total_ns) / 1e6,
            prompt_eval_ms=perf.prompt_ms,
            generation_ms=perf.eval_ms,
            total_ms=total_ns / 1e6,
            prompt_evaluated=perf.prompt_n,
            image_encode_ms=image_ms,
            image_tokens=image_tokens,
        )

    def _perf_reset(self) -> None:
        """Zero llama.cpp's counters. It books a decode's time at the next synchronize, so work
        still unbooked (a pp probe's eval) is booked first, or it lands in the next generation's."""
        import llama_cpp

        llama_cpp.llama_synchronize(self._llm.ctx)
        llama_cpp.llama_perf_context_reset(self._llm.ctx)

    def _perf(self) -> _Perf:
        import llama_cpp

        llama_cpp.llama_synchronize(self._llm.ctx)
        data = llama_cpp.llama_perf_context(self._llm.ctx)
        return _Perf(float(data.t_p_eval_ms), int(data.n_p_eval), float(data.t_eval_ms), int(data.n_eval))

    # -- vision --------------------------------------------------------------------------------------
    def _init_mtmd(self, mark: int) -> None:
        from llama_cpp import mtmd_cpp

        assert self.mmproj_path is not None
        params = mtmd_cpp.mtmd_context_params_default()
        params.use_gpu = False
        params.print_timings = False
        params.n_threads = self.threads
        params.warmup = False
        ctx = mtmd_cpp.mtmd_init_from_file(str(self.mmproj_path).encode(), self._llm.model, params)
        if not ctx:
            reason = logtap.last_reason(mark)
            self.close()
            raise InputError(
                f"{self.mmproj_path}: llama.cpp could not use this mmproj with {self.path.name}"
                f" ({reason or 'projector and model do not match'})"
            )
        self._mtmd = ctx
        if not mtmd_cpp.mtmd_support_vision(ctx):
            self.close()
            raise InputError(f"{self.mmproj_path}: this mmproj has no vision encoder")

    def _eval_multimodal(
        self, prompt: str | Sequence[Message], image: np.ndarray, chat_template: str | None
    ) -> tuple[int, float, int]:
        """Render the chat with the image's marker, tokenize text and image together (libmtmd),
        evaluate text chunks with llama.cpp and image chunks by encode (timed) then decode.
        Returns (prompt positions, image encode ms, image tokens)."""
        import llama_cpp
        from llama_cpp import mtmd_cpp

        image = _as_rgb(image)
        marker = mtmd_cpp.mtmd_default_marker().decode("utf-8")
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else [dict(m) for m in prompt]
        text = self._render_with_image(messages, marker, chat_template)
        h, w = image.shape[:2]
        data = np.ascontiguousarray(image, dtype=np.uint8)
        bitmap = mtmd_cpp.mtmd_bitmap_init(w, h, data.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)))
        if not bitmap:
            raise InputError(f"libmtmd could not take an image of {w}x{h}")
        chunks = mtmd_cpp.mtmd_input_chunks_init()
        try:
            raw = text.encode("utf-8")
            inp = mtmd_cpp.mtmd_input_text()
            inp.text, inp.text_len, inp.add_special, inp.parse_special = raw, len(raw), True, True
            bitmaps = (mtmd_cpp.mtmd_bitmap_p_ctypes * 1)(bitmap)
            rc = mtmd_cpp.mtmd_tokenize(self._mtmd, chunks, ctypes.byref(inp), bitmaps, 1)
            if rc != 0:
                raise InputError(f"libmtmd could not tokenize the prompt with its image (error {rc})")
            n_total = int(mtmd_cpp.mtmd_helper_get_n_tokens(chunks))
            self._fits(n_total)
            self._llm.reset()
            self._llm._ctx.kv_cache_clear()
            encode_ms = 0.0
            n_image = 0
            last_text = False
            for i in range(mtmd_cpp.mtmd_input_chunks_size(chunks)):
                chunk = mtmd_cpp.mtmd_input_chunks_get(chunks, i)
                kind = mtmd_cpp.mtmd_input_chunk_get_type(chunk)
                if kind == mtmd_cpp.MTMD_INPUT_CHUNK_TYPE_TEXT:
                    n = ctypes.c_size_t()
                    ptr = mtmd_cpp.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(n))
                    tokens = [ptr[j] for j in range(n.value)]
                    if tokens:
                        self._llm.eval(tokens)
                        last_text = True
                    continue
                n_tok = int(mtmd_cpp.mtmd_input_chunk_get_n_tokens(chunk))
                t0 = time.perf_counter_ns()
                if mtmd_cpp.mtmd_encode_chunk(self._mtmd, chunk) != 0:
                    raise InputError(f"{self.mmproj_path}: the projector failed to encode the image")
                encode_ms += (time.perf_counter_ns() - t0) / 1e6
                embd = mtmd_cpp.mtmd_get_output_embd(self._mtmd)
                new_past = llama_cpp.llama_pos(0)
                rc = mtmd_cpp.mtmd_helper_decode_image_chunk(
                    self._mtmd, self._llm.ctx, chunk, embd, self._llm.n_tokens, 0, self._llm.n_batch,
                    ctypes.byref(new_past), mtmd_cpp.mtmd_helper_post_decode_callback(), None,
                )  # fmt: skip
                if rc != 0:
                    raise InputError(
                        f"{self.mmproj_path}: llama.cpp failed to decode the image embeddings (error {rc})"
                    )
                self._llm.n_tokens = int(new_past.value)
                n_image += n_tok
                last_text = False
            if not last_text:
                raise InputError("the chat template put no text after the image; the model has nothing to answer from")
            return int(self._llm.n_tokens), encode_ms, n_image
        finally:
            mtmd_cpp.mtmd_input_chunks_free(chunks)
            mtmd_cpp.mtmd_bitmap_free(bitmap)

    def encode_image(self, image: np.ndarray) -> float:
        """Run the projector alone on ``image`` (no language model); returns the encode ms."""
        from llama_cpp import mtmd_cpp

        if self._mtmd is None:
            raise InputError(f"{self.path.name} was loaded without an mmproj; it cannot read images")
        image = _as_rgb(image)
        h, w = image.shape[:2]
        data = np.ascontiguousarray(image, dtype=np.uint8)
        bitmap = mtmd_cpp.mtmd_bitmap_init(w, h, data.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)))
        chunks = mtmd_cpp.mtmd_input_chunks_init()
        try:
            raw = mtmd_cpp.mtmd_default_marker()
            inp = mtmd_cpp.mtmd_input_text()
            inp.text, inp.text_len, inp.add_special, inp.parse_special = raw, len(raw), False, True
            bitmaps = (mtmd_cpp.mtmd_bitmap_p_ctypes * 1)(bitmap)
            if mtmd_cpp.mtmd_tokenize(self._mtmd, chunks, ctypes.byref(inp), bitmaps, 1) != 0:
                raise InputError("libmtmd could not tokenize the image")
            ms = 0.0
            for i in range(mtmd_cpp.mtmd_input_chunks_size(chunks)):
                chunk = mtmd_cpp.mtmd_input_chunks_get(chunks, i)
                if mtmd_cpp.mtmd_input_chunk_get_type(chunk) == mtmd_cpp.MTMD_INPUT_CHUNK_TYPE_TEXT:
                    continue
                t0 = time.perf_counter_ns()
                if mtmd_cpp.mtmd_encode_chunk(self._mtmd, chunk) != 0:
                    raise InputError(f"{self.mmproj_path}: the projector failed to encode the image")
                ms += (time.perf_counter_ns() - t0) / 1e6
            return ms
        finally:
            mtmd_cpp.mtmd_input_chunks_free(chunks)
            mtmd_cpp.mtmd_bitmap_free(bitmap)

    def _render_with_image(self, messages: list[dict[str, Any]], marker: str, chat_template: str | None) -> str:
        """Put the image marker before the last user message's text. Templates that take content
        parts (SmolVLM's) get a parts list; templates that print a string get the marker inline."""
        idx = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
        if idx < 0:
            raise InputError("a VLM prompt needs a user message to attach the image to")
        question = str(messages[idx].get("content", ""))
        as_parts = [*messages[:idx], {**messages[idx], "content": [{"type": "text", "text": marker},
                                                                   {"type": "text", "text": question}]}]  # fmt: skip
        text = self.render_chat(as_parts, chat_template=chat_template)
        if marker not in text:
            inline = [*messages[:idx], {**messages[idx], "content": f"{marker}\n{question}"}]
            text = self.render_chat(inline, chat_template=chat_template)
        return text

    def reset(self) -> None:
        """Forget the KV cache: the next prompt is evaluated in full (no prefix reuse)."""
        self._llm.reset()

    # -- lifetime ------------------------------------------------------------------------------------
    def close(self) -> None:
        if self._mtmd is not None:
            from llama_cpp import mtmd_cpp

            mtmd_cpp.mtmd_free(self._mtmd)
            self._mtmd = None
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    def __enter__(self) -> LlamaSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _as_rgb(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or min(arr.shape[:2]) < 1:
        raise InputError(f"an image must be RGB uint8 HxWx3, got {arr.dtype} {list(arr.shape)}")
    return arr
