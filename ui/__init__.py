"""Front ends: the CLI, the Gradio app and the HTTP API, thin shells over ``graph.app``."""
