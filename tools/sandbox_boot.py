"""Runs inside the sandbox process, before and around the untrusted snippet (standard library only).

The supervisor half stays trusted. In its own mount namespace it builds the sandbox's root
(:mod:`sandbox_mounts`: a tmpfs of read-only binds and a size-limited working folder) and
pivots into it, then forks. The child closes every inherited descriptor but stdio, sets
resource limits, drops to ``nobody`` and every capability, applies Landlock and the
seccomp filter (:mod:`sandbox_kernel`), installs an audit hook that explains refusals,
and executes the snippet. The supervisor reports how the child ended through a file it
opened before the pivot; when it exits, the PID namespace takes every leftover process
with it. Each layer the parent planned must apply, or the snippet never runs.
"""

import marshal
import os
import resource
import sys
from types import ModuleType

SETUP_FAILED = 120
"""Exit status of a child whose set-up failed (the snippet did not run)."""
PRELOADED = {"ctypes", "_ctypes", "sandbox_kernel", "sandbox_mounts"}
"""Modules the set-up used and the snippet must not find already loaded."""


def main(config_path: str) -> None:
    """Set up, fork the snippet's process, and record how it ended (the plan is in ``config_path``)."""
    with open(config_path, "rb") as handle:  # marshal: the cheapest parser to import (it is built in)
        cfg = marshal.load(handle)
    kernel = _load("sandbox_kernel") if cfg.get("kernel") else None
    mounts = _load("sandbox_mounts") if cfg.get("root") else None
    with open(cfg["code_path"], encoding="utf-8") as handle:
        code = handle.read()
    status = open(cfg["status_path"], "wb")  # noqa: SIM115 - written after the pivot
    try:
        if mounts is not None:
            mounts.build_root(cfg["root"], cfg["binds"], cfg["symlinks"], cfg["work"], cfg["tmpfs_mb"],
                              cfg.get("uid", 0))
            mounts.enter_root(cfg["root"])
    except OSError as exc:
        marshal.dump({"setup_error": f"sandbox set-up failed: {exc.strerror or exc}"}, status)
        status.close()
        os._exit(0)
    pid = os.fork()
    if pid == 0:
        status.close()
        _child(cfg, code, kernel)
    _, wait_status = os.waitpid(pid, 0)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    marshal.dump({"exit": os.WEXITSTATUS(wait_status) if os.WIFEXITED(wait_status) else None,
                  "signal": os.WTERMSIG(wait_status) if os.WIFSIGNALED(wait_status) else None,
                  "cpu_s": usage.ru_utime + usage.ru_stime}, status)
    status.close()
    os._exit(0)  # no interpreter teardown: it took as long as the snippet's whole set-up


def _load(name: str) -> ModuleType:
    """A helper module beside this one, imported while the host's tree is still there."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    try:
        return __import__(name)
    finally:
        sys.path.remove(here)


def _confine(cfg: dict, kernel: ModuleType | None, probing: bool) -> dict:
    """Apply the planned layers in order; ``{layer: error}`` for those that failed (only kept when probing)."""
    steps = [("rlimits", lambda: _rlimits(cfg["rlimits"])),
             ("nobody", lambda: _become(cfg["uid"], cfg["gid"]) if cfg.get("uid") is not None else None),
             ("workdir", lambda: os.chdir(cfg["work"]))]
    if kernel is not None:
        steps += [("capabilities", kernel.drop_capabilities), ("no-new-privileges", kernel.no_new_privileges)]
        if cfg.get("landlock"):
            ll, landlock = cfg["landlock"], kernel.landlock
            steps.append(("landlock", lambda: landlock(ll["read"], ll["write"], ll["devices"], ll["abi"])))
        if cfg.get("seccomp"):
            steps.append(("seccomp", kernel.seccomp))
    elif cfg.get("landlock") or cfg.get("seccomp"):  # a planned layer must apply, or the snippet never runs
        raise RuntimeError("kernel layers were planned without the kernel helper")
    failed = {}
    for name, step in steps:
        try:
            step()
        except (OSError, ValueError) as exc:
            if not probing:
                raise
            failed[name] = f"{type(exc).__name__}: {exc}"
    return failed


def _rlimits(limits: dict) -> None:
    for name, value in limits.items():
        soft, hard = value if isinstance(value, list) else (value, value)
        resource.setrlimit(getattr(resource, name), (soft, hard))


def _become(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def _child(cfg: dict, code: str, kernel: ModuleType | None) -> None:
    try:
        os.closerange(3, 1 << 16)  # nothing of the supervisor's (the status file) stays reachable
        failed = _confine(cfg, kernel, probing=cfg.get("probe", False))
        if cfg.get("probe"):
            import decimal

            decimal.Decimal(1) / 3  # noqa: B018 - loads an extension and libmpdec: the libraries are there
            sys.stdout.write(repr({"failed": failed}))
            sys.stdout.flush()
            os._exit(0)
        for name in [m for m in sys.modules if m.split(".")[0] in PRELOADED]:
            del sys.modules[name]  # the snippet imports ctypes afresh, where the guard sees it load a library
        if cfg.get("guard"):
            read_roots = [os.path.realpath(p) for p in cfg["read_roots"]]
            _install_guard(read_roots, [os.path.realpath(cfg["work"]), "/dev/null"])
    except BaseException as exc:  # noqa: BLE001 - a set-up failure must end the child, never run the snippet
        sys.stderr.write(f"sandbox set-up failed: {type(exc).__name__}: {exc}\n")
        os._exit(SETUP_FAILED)
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        exec(compile(code, "<snippet>", "exec"), namespace)  # noqa: S102 - the point of the sandbox
    except SystemExit as exc:
        sys.stdout.flush()
        os._exit(exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1))
    except BaseException as exc:  # noqa: BLE001 - report the snippet's own error like python would
        _print_error(exc)
        os._exit(1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _print_error(exc: BaseException) -> None:
    """A traceback of the snippet's own frames only (the sandbox's frames are noise to its author)."""
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<snippet>"]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)] if frames else []
    sys.stdout.flush()
    sys.stderr.write("".join(lines + traceback.format_exception_only(type(exc), exc)))
    sys.stderr.flush()


DENIED_PREFIXES = ("socket.", "subprocess.", "ctypes.", "os.exec", "os.spawn", "os.posix_spawn", "os.fork",
                   "os.forkpty", "os.system", "os.startfile", "resource.setrlimit", "sys.remote_exec",
                   "_posixsubprocess.", "pty.", "webbrowser.")
WRITE_EVENTS = {"os.remove", "os.rename", "os.mkdir", "os.rmdir", "os.symlink", "os.link", "os.chmod",
                "os.chown", "os.truncate", "os.utime", "shutil.copyfile", "shutil.rmtree", "shutil.move"}
READ_EVENTS = {"os.listdir", "os.scandir", "glob.glob", "os.chdir"}


def _install_guard(read_roots: list, write_roots: list) -> None:
    """Refuse, at the interpreter level, what the OS layers may not cover on every machine."""
    def inside(path: int | str | bytes | os.PathLike, roots: list) -> bool:
        if isinstance(path, int):  # an already-open descriptor
            return True
        real = os.path.realpath(os.fsdecode(path))
        return any(real == root or real.startswith(root.rstrip("/") + "/") for root in roots)

    def hook(event: str, args: tuple) -> None:
        if event.startswith(DENIED_PREFIXES):
            what = "network access" if event.startswith("socket.") else event
            raise PermissionError(f"sandbox: {what} is not allowed")
        if event == "open" and args and args[0] is not None:
            mode, flags = (args[1] or "r"), (args[2] or 0)
            writing = any(c in str(mode) for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            if not inside(args[0], write_roots if writing else read_roots):
                raise PermissionError(f"sandbox: {os.fsdecode(args[0])!r} is outside the sandbox folder")
        elif event in WRITE_EVENTS or event in READ_EVENTS:
            paths = [a for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))]
            roots = write_roots if event in WRITE_EVENTS else read_roots
            if any(not inside(p, roots) for p in paths):
                raise PermissionError(f"sandbox: {event} outside the sandbox folder is not allowed")

    sys.addaudithook(hook)


if __name__ == "__main__":
    main(sys.argv[1])
