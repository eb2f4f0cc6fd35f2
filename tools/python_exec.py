"""python: run a snippet in the sandbox (needs a human's approval for every call)."""

from __future__ import annotations

import re
from typing import Any

from tools.registry import ToolError, tool


def code_spans(message: str) -> list[str]:
    """Code in a message: fenced blocks, back-ticked code, or what follows 'code:' / 'python:'."""
    found = [m.strip() for m in re.findall(r"```(?:python|py)?[ \t]*\n?(.*?)```", message, re.DOTALL)]
    found += [m.strip() for m in re.findall(r"(?<!`)`([^`\n]+)`(?!`)", message)]
    after = re.search(r"\b(?:code|python|script|snippet|this)\s*:\s*(.+)", message, re.IGNORECASE | re.DOTALL)
    if after and "```" not in after.group(1):
        found.append(after.group(1).strip())
    return list(dict.fromkeys(f for f in found if f))


_FENCE = re.compile(r"```[ \t]*(?:(?:python3?|py)[ \t]*\n|\n)?(.*?)\n?[ \t]*```", re.DOTALL | re.IGNORECASE)
_INTRO = re.compile(r"\b(?:run|execute|eval(?:uate)?)\b[^:\n`]{0,40}\b(?:python|code|script|snippet)\b[^:\n`]{0,20}:"
                    r"[ \t]*\n?", re.IGNORECASE)
_INLINE = re.compile(r"\b(?:run|execute|eval(?:uate)?)\b[^`\n]{0,30}`([^`\n]+)`", re.IGNORECASE)


def explicit_code(message: str) -> str | None:
    """The code a message explicitly asks to run, verbatim, or ``None``.

    A fenced block is taken whole; after "Run this python code:" the code is the whole rest of
    the message (semicolons, URLs, quotes and all), so no model can cut or rewrite it; "run
    `...`" takes the back-ticked code. Several back-ticked snippets are left to the model's plan.
    """
    fenced = _FENCE.search(message)
    if fenced:
        return fenced.group(1) or None
    intro = _INTRO.search(message)
    if intro:
        rest = message[intro.end():].strip()
        spans = re.findall(r"`([^`\n]+)`", rest)
        if len(spans) > 1:  # "`print(1)` and `print(2)`": several snippets, one call each (the model's plan)
            return None
        return (spans[0].strip() if spans and rest == f"`{spans[0]}`" else rest) or None
    inline = _INLINE.search(message)
    return inline.group(1).strip() or None if inline else None


def beside_code(message: str) -> str:
    """What ``message`` says besides the code :func:`explicit_code` takes (other requests, or ``""``)."""
    fenced = _FENCE.search(message)
    if fenced:
        text = message[:fenced.start()] + " " + message[fenced.end():]
    elif intro := _INTRO.search(message):
        text = message[:intro.start()]
    elif inline := _INLINE.search(message):
        text = message[:inline.start()] + " " + message[inline.end():]
    else:
        return message.strip()
    return " ".join(text.split())


def _answer(args: dict[str, Any], result: str) -> str:
    return f"The code printed:\n{result}"


def _off(env: Any) -> str | None:
    """Why snippets cannot run with ``env`` (no sandbox, or one the kernel cannot confine), or ``None``."""
    sandbox = getattr(env, "sandbox", None)
    return "off: no sandbox is configured" if sandbox is None else sandbox.off_reason()


TRIGGER = (r"\b(?:run|execute|eval(?:uate)?)\b.{0,40}\b(?:python|code|script|snippet)\b|```|"
           r"\b(?:run|execute)\b[^`\n]{0,20}`[^`\n]+`")
"""Messages that ask to run code (the conductor's rule and the tool's trigger)."""


@tool(
    needs_approval=True,
    exclusive=True,
    timeout_s=120.0,
    trigger=TRIGGER,
    spans={"code": code_spans},
    examples=[("Run this python code: print(2 + 2)", {"code": "print(2 + 2)"}),
              ("Execute `import math; print(math.tau)`", {"code": "import math; print(math.tau)"})],
    answer=_answer,
    unavailable=_off,
)
def python(code: str, *, env: Any = None) -> str:
    """Run a Python 3 snippet in an isolated process and return what it printed.

    Args:
        code: Python source to run; print() what you want to see. Standard library only; no network,
            no files outside its own temporary folder, a few seconds of CPU time.
    """
    if env is None or getattr(env, "sandbox", None) is None:
        raise ToolError("no sandbox is configured for the python tool")
    result = env.sandbox.run(code)
    if result.ok:
        return result.stdout.rstrip("\n") or "(the code printed nothing)"
    details = "\n".join(part for part in (result.stdout.rstrip(), result.stderr.rstrip()) if part)
    raise ToolError(result.message + (f"\n{details}" if details else ""))
