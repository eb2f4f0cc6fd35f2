"""The conductor state machine: state, graph, checkpointing, streaming and debug helpers."""
