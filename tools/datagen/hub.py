"""``--push-to-hub REPO``: upload a finished dataset and its card to the Hugging Face hub (needs a network).

A user option only: nothing else in Podium reaches the hub, and no test calls this
beyond its offline checks (package installed, token present).
"""

from __future__ import annotations

import os
from pathlib import Path

from podium.errors import ConfigError, PodiumError


def _token() -> str:
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if token:
        return token
    try:
        from huggingface_hub import get_token
    except ImportError:
        raise ConfigError("--push-to-hub needs huggingface-hub", setting="--push-to-hub",
                          hint="pip install 'podium[hf]'") from None
    token = get_token()
    if not token:
        raise ConfigError("--push-to-hub needs a Hugging Face token", setting="HF_TOKEN",
                          hint="export HF_TOKEN=hf_... (a write token), or run `huggingface-cli login`")
    return token


def check(repo: str) -> None:
    """Refuse a malformed repo id or a missing token before any generation starts."""
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise ConfigError(f"--push-to-hub: {repo!r} is not a repo id", setting="--push-to-hub",
                          hint="use owner/name, e.g. alice/support-tickets")
    _token()


def push(data: Path, fmt: str, repo: str, *, card: Path | None = None, private: bool = True) -> str:
    """Upload ``data`` (and ``card`` as README.md) to the dataset repo ``repo``; returns its URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=_token())
    try:
        api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
        if fmt == "hf":
            from datasets import load_from_disk

            load_from_disk(str(data)).push_to_hub(repo, token=api.token, private=private)
        else:
            api.upload_file(path_or_fileobj=str(data), path_in_repo=f"data/train{data.suffix or '.jsonl'}",
                            repo_id=repo, repo_type="dataset")
        if card is not None and card.is_file():
            api.upload_file(path_or_fileobj=str(card), path_in_repo="README.md", repo_id=repo, repo_type="dataset")
    except Exception as exc:  # noqa: BLE001 - network and hub errors alike: the dataset stays on disk
        raise PodiumError(f"--push-to-hub failed: {str(exc).splitlines()[0][:200]}",
                          hint=f"the dataset is still in {data}; retry when the hub is reachable") from exc
    return f"https://huggingface.co/datasets/{repo}"
