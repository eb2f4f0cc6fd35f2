"""The sandbox's own root filesystem: a tmpfs holding read-only binds of what Python needs, pivoted into.

Runs in the boot script's supervisor, as root of a fresh mount namespace (real root, or root
of a user namespace), before it forks the snippet's process (standard library and ctypes only):

- ``/`` is a small tmpfs, read-only once populated; the folders leading to each bind are
  created on it (mode 755), so ``nobody`` reaches a Python installed under ``/root``;
- each path in ``binds`` (the Python installation, the system libraries, the zoneinfo data)
  appears at the same place, read-only, ``nosuid``, ``nodev``; ``symlinks`` (``/lib`` ->
  ``usr/lib`` on merged-/usr systems) are recreated;
- ``/dev`` holds only ``null``, ``zero``, ``random``, ``urandom``; ``/proc`` is a fresh procfs of
  the sandbox's PID namespace in which each user sees only its own processes;
- the working folder is a size-limited tmpfs owned by the snippet's user.

Nothing of the host's tree is left once :func:`enter_root` has pivoted and detached it.
"""

from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.syscall.restype = ctypes.c_long

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 32, 4096, 1024, 2048, 1 << 21
MNT_DETACH = 2
DEVICES = ("null", "zero", "random", "urandom")
_LOCKED = {os.ST_NOSUID: MS_NOSUID, os.ST_NODEV: MS_NODEV, os.ST_NOEXEC: MS_NOEXEC, os.ST_NOATIME: MS_NOATIME,
           os.ST_NODIRATIME: MS_NODIRATIME, os.ST_RELATIME: MS_RELATIME}
"""Flags of a source mount that a bind's remount must repeat (in a user namespace they are locked)."""


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None, *,
          what: str | None = None) -> None:
    """mount(2); raises ``OSError`` naming ``what`` (default: the target)."""
    def enc(value: str | None) -> bytes | None:
        return os.fsencode(value) if value is not None else None
    if _libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"mount {what or target}: {os.strerror(code)}")


def bind_read_only(source: str, target: str, extra: int = MS_NOSUID | MS_NODEV) -> None:
    """Bind ``source`` at ``target`` (a folder or a file), then make the bind read-only."""
    mount(source, target, None, MS_BIND, what=source)
    locked = os.statvfs(source).f_flag
    flags = sum(ms for st, ms in _LOCKED.items() if locked & st)
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | extra | flags, what=f"{source} read-only")


def _mkdirs(root: str, path: str) -> str:
    target = root + path
    os.makedirs(target, mode=0o755, exist_ok=True)
    return target


def _file(root: str, path: str) -> str:
    target = root + path
    _mkdirs(root, os.path.dirname(path))
    with open(target, "a"):
        pass
    return target


def build_root(root: str, binds: list[str], symlinks: dict[str, str], work: str, work_mb: int, owner: int) -> None:
    """Populate a fresh tmpfs at ``root`` (a folder of the host) as described in the module docstring."""
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    for link, points_to in symlinks.items():
        os.symlink(points_to, root + link)
    for path in binds:
        target = _mkdirs(root, path) if os.path.isdir(path) else _file(root, path)
        bind_read_only(path, target)
    _mkdirs(root, "/dev")
    for name in DEVICES:
        bind_read_only(f"/dev/{name}", _file(root, f"/dev/{name}"), extra=MS_NOSUID | MS_NOEXEC)
    mount("proc", _mkdirs(root, "/proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")
    mount("tmpfs", _mkdirs(root, work), "tmpfs", MS_NOSUID | MS_NODEV,
          f"size={work_mb}m,mode=700,uid={owner},gid={owner}")


def enter_root(root: str) -> None:
    """Make ``root`` this mount namespace's ``/``, detach the host's tree, and freeze ``/`` read-only."""
    os.chdir(root)
    if _libc.syscall(ctypes.c_long(155 if os.uname().machine == "x86_64" else 41), b".", b".") != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"pivot_root: {os.strerror(code)}")
    if _libc.umount2(b".", MNT_DETACH) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"detaching the host's root: {os.strerror(code)}")
    os.chdir("/")
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
