"""Specialist agents: one file and one LangGraph node each."""
