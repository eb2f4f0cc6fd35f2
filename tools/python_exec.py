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


def _answer(args: dict[str, Any], result: str) -> str:
    return f"The code printed:\n{result}"


def _off(env: Any) -> str | None:
    """Why snippets cannot run with ``env`` (no sandbox, or one the kernel cannot confine), or ``None``."""
    sandbox = getattr(env, "sandbox", None)
    return "off: no sandbox is configured" if sandbox is None else sandbox.off_reason()


@tool(
    needs_approval=True,
    exclusive=True,
    timeout_s=120.0,
    trigger=r"\b(?:run|execute|eval(?:uate)?)\b.{0,40}\b(?:python|code|script|snippet)\b|```|"
            r"\b(?:run|execute)\b[^`\n]{0,20}`[^`\n]+`",
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
