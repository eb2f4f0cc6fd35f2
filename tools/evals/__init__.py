"""Podium's evaluation engine: benchmarks scored like lm-evaluation-harness, speed runs, the arena, judges."""
