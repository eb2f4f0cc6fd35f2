"""Podium: local-first, multi-model agent orchestration on a LangGraph conductor."""

__version__ = "0.1.0"
