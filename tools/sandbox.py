"""Run untrusted Python in a separate, limited process: the engine of the ``python`` tool.

Layers, each applied where the machine allows it (``RunResult.isolation`` says which did):

- ``namespaces``: ``unshare`` puts the process in new network (no interfaces but a
  down loopback: no network at all), PID (leftover processes die with it; other
  processes are invisible) and mount namespaces (private ``/proc`` and a size-limited
  tmpfs as the working folder). As root directly; otherwise through a user namespace.
- ``nobody``: as root, the snippet runs as uid/gid 65534 without supplementary groups,
  so it can read no private file and ``RLIMIT_NPROC`` binds.
- ``rlimits``: CPU seconds, address space, processes, file size, open files, no core dumps.
- ``guard``: an audit hook refusing sockets, new processes, ctypes, and files outside
  the interpreter's library and the working folder (the interpreter-level layer; the
  OS layers above are the real boundary where available).
- always: a temporary working folder, an environment with nothing inherited (no
  keys, no tokens), stdin closed, a wall-clock limit that kills the whole process
  group, and output capped in size and truncated for display.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

BOOT = Path(__file__).with_name("sandbox_boot.py")
NOBODY = 65534
NAMESPACE_FLAGS = ["--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]


@dataclass(frozen=True)
class Limits:
    """What one snippet may use."""

    wall_s: float = 10.0
    """Wall-clock seconds before the whole process tree is killed."""
    cpu_s: int = 5
    """CPU seconds (SIGXCPU, then SIGKILL one second later)."""
    memory_mb: int = 256
    """Address space of the snippet's process."""
    processes: int = 16
    """Processes and threads the snippet's user may have (``RLIMIT_NPROC``)."""
    file_mb: int = 4
    """Largest file it may write, stdout and stderr included."""
    disk_mb: int = 16
    """Size of its working folder, where a tmpfs can be mounted."""
    output_chars: int = 4000
    """Characters of stdout (and of stderr) kept for the model and the user."""


@dataclass
class RunResult:
    """How a snippet ended and what it printed."""

    status: str
    """``ok``, ``error`` (non-zero exit), ``timeout``, ``cpu_limit``, ``memory_limit``, ``output_limit``
    or ``killed``."""
    stdout: str
    stderr: str
    exit_code: int | None
    message: str
    """One line saying what happened, naming the limit that stopped it."""
    truncated: bool = False
    duration_s: float = 0.0
    isolation: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the snippet ran to a zero exit status."""
        return self.status == "ok"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict."""
        return dict(self.__dict__)


@lru_cache(maxsize=1)
def namespace_mode() -> str:
    """``root`` (unshare as root), ``user`` (through a user namespace) or ``none``, probed once."""
    unshare = shutil.which("unshare")
    if not unshare or not sys.platform.startswith("linux"):
        return "none"
    attempts = [("root", [unshare, *NAMESPACE_FLAGS])] if os.geteuid() == 0 else []
    attempts.append(("user", [unshare, "--user", "--map-root-user", *NAMESPACE_FLAGS]))
    for mode, command in attempts:
        try:
            if subprocess.run([*command, "true"], capture_output=True, timeout=10).returncode == 0:
                return mode
        except (OSError, subprocess.TimeoutExpired):
            continue
    return "none"


def _world_reachable(path: Path) -> bool:
    """Whether an unprivileged user can traverse to ``path`` (every parent is o+x)."""
    return all(os.stat(p).st_mode & 0o001 for p in [path, *path.parents])


class Sandbox:
    """Runs snippets with :class:`Limits`; ``guard``/``namespaces``/``drop_privileges`` exist so tests
    can prove that each layer holds on its own."""

    def __init__(self, limits: Limits | None = None, *, guard: bool = True, namespaces: bool = True,
                 drop_privileges: bool = True) -> None:
        self.limits = limits or Limits()
        self.guard = guard
        self.namespaces = namespaces
        self.drop_privileges = drop_privileges

    def run(self, code: str) -> RunResult:
        """Run ``code`` and return how it ended; never raises for anything the snippet does."""
        run_dir = Path(tempfile.mkdtemp(prefix="podium-sandbox-"))
        try:
            return self._run(code, run_dir)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)

    def _plan(self, run_dir: Path) -> tuple[list[str], dict[str, object], list[str]]:
        limits = self.limits
        mode = namespace_mode() if self.namespaces else "none"
        root = os.geteuid() == 0
        layers = ["rlimits", "clean-env", "tmpdir"]
        prefix: list[str] = []
        cfg: dict[str, object] = {"work": str(run_dir / "work"), "code_path": str(run_dir / "snippet.py"),
                                  "status_path": str(run_dir / "status.json"), "guard": self.guard,
                                  "read_roots": ["/dev/null", "/dev/urandom", "/usr/share/zoneinfo"]}
        if mode != "none":
            unshare = shutil.which("unshare") or "unshare"
            prefix = [unshare, *(["--user", "--map-root-user"] if mode == "user" else []), *NAMESPACE_FLAGS]
            cfg["tmpfs_mb"] = limits.disk_mb
            layers.append("namespaces")
        if root and self.drop_privileges and mode != "user":
            reachable = _world_reachable(Path(sys.base_prefix))
            if not reachable and mode == "root":  # e.g. Python under /root: mount it where nobody can reach
                (run_dir / "python").mkdir()
                cfg["bind_python"] = str(run_dir / "python")
                cfg["read_roots"].append(cfg["bind_python"])  # type: ignore[union-attr]
            if reachable or mode == "root":
                cfg.update(uid=NOBODY, gid=NOBODY)
                layers.append("nobody")
        if self.guard:
            layers.append("guard")
        cfg["rlimits"] = {
            "RLIMIT_CPU": [limits.cpu_s, limits.cpu_s + 1],
            "RLIMIT_AS": limits.memory_mb * 2**20,
            "RLIMIT_NPROC": limits.processes if "nobody" in layers else _own_processes() + limits.processes,
            "RLIMIT_FSIZE": limits.file_mb * 2**20,
            "RLIMIT_NOFILE": 64,
            "RLIMIT_CORE": 0,
        }
        command = [*prefix, sys.executable, "-I", "-S", "-u", str(BOOT), json.dumps(cfg)]
        return command, cfg, layers

    def _run(self, code: str, run_dir: Path) -> RunResult:
        command, cfg, layers = self._plan(run_dir)
        (run_dir / "work").mkdir()
        (run_dir / "snippet.py").write_text(code, encoding="utf-8")
        run_dir.chmod(0o711)  # others may traverse (to work/ and python/) but not list or read
        env = {"PATH": "/usr/bin:/bin", "HOME": str(run_dir / "work"), "TMPDIR": str(run_dir / "work"),
               "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        out_path, err_path = run_dir / "stdout", run_dir / "stderr"
        started = time.perf_counter()
        timed_out = False
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                                    cwd=run_dir, start_new_session=True)
            try:
                proc.wait(timeout=self.limits.wall_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            _kill_group(proc.pid)  # whatever the snippet left behind in its group goes too
            proc.wait()
            _wait_group_gone(proc.pid)
        duration = time.perf_counter() - started
        status_file = run_dir / "status.json"
        report = json.loads(status_file.read_text()) if status_file.exists() else {}
        stdout, out_size = _read(out_path, self.limits.output_chars)
        stderr, err_size = _read(err_path, self.limits.output_chars)
        truncated = out_size > self.limits.output_chars or err_size > self.limits.output_chars
        status, message = self._classify(timed_out, report, proc.returncode, stderr, out_size, err_size)
        return RunResult(status=status, stdout=stdout, stderr=stderr, exit_code=report.get("exit"),
                         message=message, truncated=truncated, duration_s=duration, isolation=layers)

    def _classify(self, timed_out: bool, report: dict, returncode: int, stderr: str,
                  out_size: int, err_size: int) -> tuple[str, str]:
        limits = self.limits
        sig, code = report.get("signal"), report.get("exit")
        if timed_out:
            return "timeout", f"stopped: still running after the {limits.wall_s:g} s wall-clock limit"
        if sig in (signal.SIGXCPU, signal.SIGKILL) and report.get("cpu_s", 0) >= limits.cpu_s - 0.5:
            return "cpu_limit", f"stopped: used its {limits.cpu_s} s of CPU time"
        if "MemoryError" in stderr[-2000:]:
            return "memory_limit", f"stopped: ran out of its {limits.memory_mb} MB of memory"
        if max(out_size, err_size) >= limits.file_mb * 2**20 or "File too large" in stderr[-2000:]:
            return "output_limit", f"stopped: wrote more than the {limits.file_mb} MB output limit"
        if sig:
            return "killed", f"killed by signal {signal.Signals(sig).name}"
        if code == 120:
            return "error", stderr.strip().splitlines()[-1] if stderr.strip() else "the sandbox could not start"
        if code is None:
            return "error", f"the sandbox could not start (exit status {returncode})"
        if code:
            last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
            return "error", f"exited with status {code}" + (f": {last}" if last else "")
        return "ok", "ran to completion"


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _wait_group_gone(pgid: int, deadline_s: float = 5.0) -> None:
    """Return once no process of the group is left, so a finished run leaves nothing running."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)  # the kernel is reaping the killed processes


def _read(path: Path, limit: int) -> tuple[str, int]:
    """The first ``limit`` characters of a captured stream, and its size in bytes."""
    size = path.stat().st_size if path.exists() else 0
    with open(path, "rb") as handle:
        data = handle.read(limit * 4)
    text = data.decode("utf-8", errors="replace")
    if len(text) > limit or size > len(data):
        text = text[:limit] + f"\n[... output truncated: {size} bytes in all]"
    return text, size


def _own_processes() -> int:
    """Processes and threads of this user, the base an ``RLIMIT_NPROC`` for non-root must add to."""
    uid, count = os.getuid(), 0
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                count += len(list((entry / "task").iterdir()))
        except OSError:
            continue
    return count or 256
