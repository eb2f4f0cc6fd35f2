"""Run untrusted Python in a separate, confined process: the engine of the ``python`` tool.

The kernel is the boundary; each layer applies where the machine offers it
(:func:`probe` finds out once per process) and ``RunResult.isolation`` names those that did:

- ``mount-namespace``: the snippet's ``/`` is a read-only tmpfs holding only the Python
  installation, the system libraries and the zoneinfo data (read-only binds), four devices,
  a fresh ``/proc`` and its working folder ``/tmp`` (``tmpfs``: size-limited); the host's tree is
  pivoted away. ``pid-namespace``, ``network-namespace`` (no interface up: no network at all,
  abstract Unix sockets included), ``ipc-namespace``; ``user-namespace`` where Podium is not root.
- ``nobody``: as root, the snippet runs as uid/gid 65534 without groups or capabilities.
- ``no-new-privileges``, ``landlock`` (reads only the runtime, writes only its folder, no TCP,
  no signals or abstract sockets outside; by ABI), ``seccomp`` (no ``execve``, ``ptrace``,
  sockets, namespaces, mounts, io_uring, BPF or keyrings).
- ``rlimits`` (CPU, memory, processes, file size, open files, no core), ``clean-env``.
- ``guard``: an audit hook refusing sockets, processes, ctypes and files outside, with a
  readable message; an interpreter-level extra, not the boundary.

Where neither a mount namespace nor Landlock can confine files, :meth:`Sandbox.off_reason`
says why and :meth:`Sandbox.run` refuses unless ``allow_unconfined`` (``PODIUM_SANDBOX_UNCONFINED``).
"""

from __future__ import annotations

import ast
import marshal
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from tools.sandbox_process import execute, own_processes, read_capped, read_report, verdict

BOOT = Path(__file__).with_name("sandbox_boot.py")
LAUNCH = (f"import sys; sys.path.insert(0, {str(BOOT.parent)!r}); import sandbox_boot; sys.path.pop(0); "
          "sandbox_boot.main(sys.argv[1])")
"""Imported, not run as a script, so its compiled bytecode is cached (compiling it took a tenth of a start)."""
NOBODY = 65534
NAMESPACE_FLAGS = ["--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child"]
WORK = "/tmp"
"""The snippet's working folder inside its own root."""
DEVICES = ["/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"]
LINUX = sys.platform.startswith("linux")


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
    """``ok``, ``error`` (non-zero exit), ``timeout``, ``cpu_limit``, ``memory_limit``, ``output_limit``,
    ``killed``, or ``off`` (not run: this machine cannot confine it, see ``message``)."""
    stdout: str
    stderr: str
    exit_code: int | None
    message: str
    """One line saying what happened, naming the limit that stopped it."""
    truncated: bool = False
    duration_s: float = 0.0
    isolation: list[str] = field(default_factory=list)
    """The layers that applied to this run, outermost first."""

    @property
    def ok(self) -> bool:
        """Whether the snippet ran to a zero exit status."""
        return self.status == "ok"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class Confinement:
    """What this machine lets the sandbox apply (:func:`probe`)."""

    namespaces: str
    """``root`` (unshare as root), ``user`` (through a user namespace) or ``none``."""
    landlock_abi: int
    """The kernel's Landlock ABI version; 0 without Landlock."""
    seccomp: bool
    """Whether the seccomp filter installs."""
    missing: dict[str, str] = field(default_factory=dict)
    """Why a layer is unavailable, by layer (``namespaces``, ``landlock``, ``seccomp``)."""


def runtime_paths() -> tuple[list[str], dict[str, str]]:
    """What a snippet's root holds, read-only: ``(paths bound at their own place, {symlink: target})``.

    The Python installation, the system library folders, the zoneinfo data and the
    dynamic loader's cache; ``/lib``-style symlinks (merged /usr) are recreated, not bound.
    """
    links: dict[str, str] = {}
    paths = [sys.base_prefix, sys.base_exec_prefix, "/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/libx32",
             "/usr/share/zoneinfo", "/etc/ld.so.cache"]
    for top in ("/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(top):
            links[top] = os.readlink(top)
        elif os.path.isdir(top):
            paths.append(top)
    kept: list[str] = []
    for path in sorted({os.path.normpath(p) for p in paths if os.path.exists(p)}):
        if not any(path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return kept, links


@lru_cache(maxsize=1)
def probe() -> Confinement:
    """Find out, once per process, which layers this machine applies (one real sandbox start per mode tried)."""
    if not LINUX:
        why = f"{sys.platform} is not Linux"
        return Confinement("none", 0, False, {"namespaces": why, "landlock": why, "seccomp": why})
    from tools import sandbox_kernel

    abi, seccomp = sandbox_kernel.landlock_abi(), sandbox_kernel.seccomp_supported()
    missing = {} if abi else {"landlock": "this kernel has no Landlock, or it is disabled"}
    if not seccomp:
        missing["seccomp"] = "this kernel does not filter syscalls (or Podium has no table for it)"
    modes = (["root"] if os.geteuid() == 0 else []) + ["user"]
    if not shutil.which("unshare"):
        missing["namespaces"], modes = "unshare (util-linux) is not installed", []
    tried: list[str] = []
    for mode in [*modes, "none"]:
        failed, error = _probe_run(Confinement(mode, abi, seccomp))
        if error is None:
            if "landlock" in failed:
                abi, missing["landlock"] = 0, failed.pop("landlock")
            if "seccomp" in failed:
                seccomp, missing["seccomp"] = False, failed.pop("seccomp")
            error = "; ".join(f"{k}: {v}" for k, v in failed.items()) or None
        if error is None:
            if mode == "none" and modes:
                missing["namespaces"] = "; ".join(tried)
            return Confinement(mode, abi, seccomp, missing)
        tried.append(f"{mode}: {error}")
    return Confinement("none", 0, False, {"namespaces": "; ".join(tried), "landlock": missing.get("landlock", ""),
                                          "seccomp": "the sandbox could not start at all"})


def _probe_run(confinement: Confinement) -> tuple[dict[str, str], str | None]:
    """Start a sandbox that tries every layer and reports what failed: ``(failed layers, start-up error)``."""
    result = Sandbox(Limits(wall_s=20), confinement=confinement, allow_unconfined=True)._launch("", probing=True)
    if not result.ok:
        return {}, result.message
    try:
        return dict(ast.literal_eval(result.stdout)["failed"]), None
    except (ValueError, KeyError, TypeError, SyntaxError):
        return {}, f"unexpected probe output {result.stdout[:200]!r}"


def namespace_mode() -> str:
    """``root``, ``user`` or ``none``: how this machine's sandboxes get their namespaces."""
    return probe().namespaces


def _world_reachable(path: Path) -> bool:
    """Whether an unprivileged user can traverse to ``path`` (every parent is o+x)."""
    return all(os.stat(p).st_mode & 0o001 for p in [path, *path.parents])


class Sandbox:
    """Runs snippets with :class:`Limits`. ``guard``, ``namespaces``, ``landlock``, ``seccomp`` and
    ``drop_privileges`` switch single layers off so tests can prove that the others hold on their own;
    ``confinement`` stands in for what :func:`probe` would find."""

    def __init__(self, limits: Limits | None = None, *, guard: bool = True, namespaces: bool = True,
                 landlock: bool = True, seccomp: bool = True, drop_privileges: bool = True,
                 allow_unconfined: bool = False, confinement: Confinement | None = None) -> None:
        self.limits = limits or Limits()
        self.guard, self.namespaces, self.landlock, self.seccomp = guard, namespaces, landlock, seccomp
        self.drop_privileges = drop_privileges
        self.allow_unconfined = allow_unconfined
        self._confinement = confinement

    @classmethod
    def from_settings(cls, settings: Any, limits: Limits | None = None) -> Sandbox:
        """The sandbox of a process's settings (``PODIUM_SANDBOX_*``); ``limits`` replaces the three limits."""
        limits = limits or Limits(wall_s=settings.sandbox_wall_s, cpu_s=settings.sandbox_cpu_s,
                                  memory_mb=settings.sandbox_memory_mb)
        return cls(limits, allow_unconfined=settings.sandbox_unconfined)

    @property
    def confinement(self) -> Confinement:
        """The layers this sandbox may use: the machine's, less those switched off."""
        found = self._confinement or probe()
        return replace(found, namespaces=found.namespaces if self.namespaces else "none",
                       landlock_abi=found.landlock_abi if self.landlock else 0, seccomp=found.seccomp and self.seccomp)

    def off_reason(self) -> str | None:
        """Why snippets cannot run here (one line), or ``None``: files must be confined by the kernel."""
        found = self.confinement
        if found.namespaces != "none" or found.landlock_abi or self.allow_unconfined:
            return None
        why = [f"{layer}: {found.missing.get(layer) or 'switched off'}" for layer in ("namespaces", "landlock")]
        return ("off: this machine cannot keep a snippet out of your files (" + "; ".join(why) + "); "
                "PODIUM_SANDBOX_UNCONFINED=1 runs snippets anyway, at your own risk")

    def run(self, code: str) -> RunResult:
        """Run ``code`` and return how it ended; never raises for anything the snippet does."""
        reason = self.off_reason()
        if reason is not None:
            return RunResult(status="off", stdout="", stderr="", exit_code=None, message=f"the python tool is {reason}")
        return self._launch(code)

    def _launch(self, code: str, *, probing: bool = False) -> RunResult:
        run_dir = Path(tempfile.mkdtemp(prefix="podium-sandbox-"))
        try:
            return self._run(code, run_dir, probing)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)

    def _plan(self, run_dir: Path, probing: bool) -> tuple[list[str], dict[str, Any], list[str]]:
        found, limits = self.confinement, self.limits
        mode, confined = found.namespaces, found.namespaces != "none"
        binds, links = runtime_paths()
        work = WORK if confined else str(run_dir / "work")
        cfg: dict[str, Any] = {"work": work, "code_path": str(run_dir / "snippet.py"), "probe": probing,
                               "status_path": str(run_dir / "status"), "guard": self.guard, "kernel": LINUX,
                               "read_roots": [*binds, *DEVICES, work]}
        prefix: list[str] = []
        layers: list[str] = []
        if confined:
            prefix = [shutil.which("unshare") or "unshare",
                      *(["--user", "--map-root-user"] if mode == "user" else []), *NAMESPACE_FLAGS]
            # The root's tmpfs covers the run folder itself, in the snippet's mount namespace only (the host
            # still sees the files there): no mount point to create and remove on every call.
            cfg.update(root=str(run_dir), binds=binds, symlinks=links, tmpfs_mb=limits.disk_mb)
            layers += [*(["user-namespace"] if mode == "user" else []), "mount-namespace", "pid-namespace",
                       "network-namespace", "ipc-namespace", "tmpfs"]
        else:
            layers.append("tmpdir")
        if (os.geteuid() == 0 and self.drop_privileges and mode != "user"
                and (confined or _world_reachable(Path(sys.base_prefix)))):
            cfg.update(uid=NOBODY, gid=NOBODY)
            layers.append("nobody")
        if LINUX:
            layers.append("no-new-privileges")
        if found.landlock_abi:
            cfg["landlock"] = {"read": [*binds, "/proc"] if confined else binds, "write": [work],
                               "devices": DEVICES, "abi": found.landlock_abi}
            layers.append("landlock")
        if found.seccomp:
            cfg["seccomp"] = True
            layers.append("seccomp")
        layers += ["rlimits", "clean-env", *(["guard"] if self.guard else [])]
        cfg["rlimits"] = {
            "RLIMIT_CPU": [limits.cpu_s, limits.cpu_s + 1],
            "RLIMIT_AS": limits.memory_mb * 2**20,
            "RLIMIT_NPROC": limits.processes if "nobody" in layers else own_processes() + limits.processes,
            "RLIMIT_FSIZE": limits.file_mb * 2**20,
            "RLIMIT_NOFILE": 64,
            "RLIMIT_CORE": 0,
        }
        command = [*prefix, sys.executable, "-I", "-S", "-u", "-c", LAUNCH, str(run_dir / "config")]
        return command, cfg, layers

    def _run(self, code: str, run_dir: Path, probing: bool) -> RunResult:
        command, cfg, layers = self._plan(run_dir, probing)
        if "root" not in cfg:  # its folder is a folder of the host
            (run_dir / "work").mkdir()
            if "uid" in cfg:
                os.chown(run_dir / "work", cfg["uid"], cfg["gid"])
        (run_dir / "snippet.py").write_text(code, encoding="utf-8")
        (run_dir / "config").write_bytes(marshal.dumps(cfg))
        run_dir.chmod(0o711)  # others may traverse (to work/) but not list or read
        env = {"PATH": "/usr/bin:/bin", "HOME": cfg["work"], "TMPDIR": cfg["work"], "LANG": "C.UTF-8",
               "LC_ALL": "C.UTF-8"}
        out_path, err_path = run_dir / "stdout", run_dir / "stderr"
        returncode, timed_out, duration = execute(command, env, run_dir, out_path, err_path, self.limits.wall_s)
        report = read_report(run_dir / "status")
        stdout, out_size = read_capped(out_path, self.limits.output_chars)
        stderr, err_size = read_capped(err_path, self.limits.output_chars)
        truncated = out_size > self.limits.output_chars or err_size > self.limits.output_chars
        status, message = verdict(self.limits, timed_out, report, returncode, stderr, max(out_size, err_size))
        return RunResult(status=status, stdout=stdout, stderr=stderr, exit_code=report.get("exit"),
                         message=message, truncated=truncated, duration_s=duration, isolation=layers)
