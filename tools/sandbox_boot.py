"""Runs inside the sandbox process, before and around the untrusted snippet (standard library only).

The supervisor half stays trusted: it mounts a size-limited tmpfs as the working
folder and makes the interpreter reachable for an unprivileged user (when it runs as
root in its own mount namespace), then forks. The child sets resource limits, drops to
``nobody``, installs an audit hook that refuses sockets, processes, ctypes and files
outside the allowed folders, and executes the snippet. The supervisor reports how the
child ended in a status file; when it exits, a PID namespace takes every leftover
process with it.
"""

import json
import os
import resource
import subprocess
import sys


def main() -> None:
    """Set up, fork the snippet's process, and record how it ended."""
    cfg = json.loads(sys.argv[1])
    with open(cfg["code_path"], encoding="utf-8") as handle:
        code = handle.read()
    work = cfg["work"]
    if cfg.get("tmpfs_mb"):
        _mount("-t", "tmpfs", "-o", f"size={cfg['tmpfs_mb']}m,mode=1777,nosuid,nodev", "tmpfs", work)
    if cfg.get("bind_python"):
        _mount("--bind", sys.base_prefix, cfg["bind_python"])
        _mount("-o", "remount,bind,ro", cfg["bind_python"])
        _relocate(sys.base_prefix, cfg["bind_python"])
    pid = os.fork()
    if pid == 0:
        _child(cfg, code, work)
    _, status = os.waitpid(pid, 0)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = {"exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
              "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
              "cpu_s": usage.ru_utime + usage.ru_stime}
    with open(cfg["status_path"], "w", encoding="utf-8") as handle:
        json.dump(report, handle)
    sys.exit(0)


def _relocate(old: str, new: str) -> None:
    """Import from the bound copy of the library: ``sys.path`` and already-imported packages' paths."""
    sys.path[:] = [p.replace(old, new, 1) for p in sys.path]
    for module in list(sys.modules.values()):
        paths = getattr(module, "__path__", None)
        if isinstance(paths, list):
            paths[:] = [p.replace(old, new, 1) for p in paths]
    sys.path_importer_cache.clear()


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def _child(cfg: dict, code: str, work: str) -> None:
    try:
        for name, value in cfg["rlimits"].items():
            soft, hard = value if isinstance(value, list) else (value, value)
            resource.setrlimit(getattr(resource, name), (soft, hard))
        if cfg.get("uid") is not None:
            os.chown(work, cfg["uid"], cfg["gid"])
            os.setgroups([])
            os.setgid(cfg["gid"])
            os.setuid(cfg["uid"])
        os.chdir(work)
        if cfg.get("guard"):
            read_roots = [os.path.realpath(p) for p in cfg["read_roots"] + [sys.prefix, work]]
            _install_guard(read_roots, [os.path.realpath(work), "/dev/null"])
    except BaseException as exc:  # noqa: BLE001 - a set-up failure must end the child, never run the snippet
        sys.stderr.write(f"sandbox set-up failed: {type(exc).__name__}: {exc}\n")
        os._exit(120)
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
    def inside(path: object, roots: list) -> bool:
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
    main()
