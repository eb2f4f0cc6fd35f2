"""Fine-tuning: chat data to a LoRA, exported to GGUF for llama.cpp, registered as ``llamacpp/NAME``.

``train.py`` and ``gguf_export.py`` import nothing from Podium, so ``modal_app.py`` runs
the very same files on a GPU; the rest (data checks, the run, evaluation) is Podium's.
"""
