"""Podium's error classes, split by who must act on them.

Every error a user can cause carries a one-line message and a ``hint`` saying what
to do next; the CLI and the UI print those two lines instead of a traceback.
"""

from __future__ import annotations


class PodiumError(Exception):
    """Base class: something the user or the configuration must fix."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and the hint on one line, for terminals and logs."""
        return f"{self.message} ({self.hint})" if self.hint else self.message


class Cancelled(PodiumError):
    """The turn was stopped on purpose (the user's Stop, a newer turn on its thread): not a failure of the model,
    so nothing is retried or falls back, and what had streamed stays as it was."""


class ConfigError(PodiumError):
    """A setting, a model spec or a flag is invalid; ``setting`` names it."""

    def __init__(self, message: str, *, setting: str = "", hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.setting = setting


class ModelError(PodiumError):
    """A model provider failed; ``retryable`` says whether trying again may help."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        retryable: bool = False,
        status: int | None = None,
        retry_after_s: float | None = None,
        hint: str = "",
    ) -> None:
        super().__init__(message, hint=hint)
        self.provider = provider
        self.model = model
        self.retryable = retryable
        self.status = status
        self.retry_after_s = retry_after_s


class ContextOverflowError(PodiumError):
    """A prompt does not fit the model's context window even after trimming."""

    def __init__(self, prompt_tokens: int, context_length: int, *, model: str = "") -> None:
        super().__init__(
            f"the prompt is {prompt_tokens} tokens but {model or 'the model'} holds {context_length}",
            hint="shorten the message, or pick a model with a larger context (--model)",
        )
        self.prompt_tokens = prompt_tokens
        self.context_length = context_length
        self.model = model


class NotFoundError(PodiumError):
    """A thread, checkpoint, collection or file named by the user does not exist."""

    def __init__(self, kind: str, name: str, *, hint: str = "") -> None:
        super().__init__(f"unknown {kind} {name!r}", hint=hint)
        self.kind = kind
        self.name = name
