"""zoo-llm: language and vision-language models from GGUF files, run by llama.cpp.

Nothing heavy is imported here: llama_cpp is imported inside the functions that run a model.
"""
