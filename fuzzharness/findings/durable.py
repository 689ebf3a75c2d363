"""Durable files: what a campaign writes so that SIGKILL at any moment loses nothing.

Two primitives, and nothing else in a campaign's state is written any other way:

* :func:`write_atomic` -- write a temporary file beside the destination, fsync it,
  ``rename`` it into place, fsync the directory. A reader sees the old file or
  the new one, never half of one.
* :class:`Journal` -- an append-only file of JSON lines; each record is written
  with one ``write`` and fsynced before :meth:`Journal.append` returns. A process
  killed in the middle of a write leaves at most one partial last line, which
  :func:`read_journal` ignores and :class:`Journal` cuts off before appending.

And two guards of an output tree:

* :class:`OutLock` -- an exclusive ``flock`` on ``<out>/.lock``, holding who owns the
  directory (pid, host, start time). A second process asking for it fails at once naming
  the holder; the kernel releases it when the holder dies, so a stale lock is simply taken.
* :func:`refuse_symlink` -- a directory or file the harness is about to write into that is a
  symbolic link is refused (one line naming it): nothing is ever written through a link
  out of the output tree.

Files written by :func:`write_atomic` get the usual mode (0666 minus the umask), as files
written any other way do, so all files of one finding have the same mode.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

from fuzzharness.errors import InvalidArgument

__all__ = ["write_atomic", "Journal", "read_journal", "fsync_dir", "OutLock", "OutLocked", "refuse_symlink"]

LOCK_FILE = ".lock"


def _file_mode() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return 0o666 & ~old


_MODE = _file_mode()
#: the mode of a directory made by mkdtemp and then published (0777 minus the umask)
DIR_MODE = 0o777 & ~(0o666 & ~_MODE)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), _MODE)
            fh.write(data.encode() if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def read_journal(path: Path) -> Iterator[dict[str, Any]]:
    """The complete records of a journal, in order (a partial last line is skipped)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue  # only the last line can be partial (each record is fsynced whole)
        if isinstance(record, dict):
            yield record


class Journal:
    """An append-only, fsynced JSON-lines file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Cut a partial last line left by a process killed mid-write.
        if self.path.exists():
            data = self.path.read_bytes()
            if data and not data.endswith(b"\n"):
                with open(self.path, "r+b") as fh:
                    fh.truncate(data.rfind(b"\n") + 1)
                    os.fsync(fh.fileno())
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        fsync_dir(self.path.parent)

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, default=str, separators=(",", ":")) + "\n").encode()
        os.write(self._fd, line)
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class OutLocked(InvalidArgument):
    """Another live process holds the output directory."""


def refuse_symlink(path: Path, what: str = "output") -> None:
    """Refuse (InvalidArgument, one line) to write into ``path`` when it is a symbolic link."""
    if Path(path).is_symlink():
        raise InvalidArgument(f"{path}: is a symbolic link; refusing to write {what} through it "
                              f"(outside the output tree)")  # fmt: skip


class OutLock:
    """An exclusive lock on an output directory, held while this object is open.

    ``OutLock(out, "campaign")`` creates ``out`` if needed and takes ``flock(LOCK_EX |
    LOCK_NB)`` on ``out/.lock``; if another process holds it, :class:`OutLocked` names the
    holder (pid, host, command, start time, as the holder wrote them). The lock is released
    by :meth:`close` or by the kernel when the holder dies (a stale lock file is harmless).
    """

    def __init__(self, out: Path, command: str) -> None:
        self.path = Path(out) / LOCK_FILE
        refuse_symlink(self.path, "the lock")
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, _MODE)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 4096, 0).decode(errors="replace")
            os.close(self._fd)
            self._fd = -1
            try:
                info = json.loads(holder)
                who = (f"pid {int(info['pid'])} on {str(info['host'])[:80]} ({str(info['command'])[:40]}, "
                       f"started {str(info['started'])[:40]})")  # fmt: skip
            except (ValueError, KeyError, TypeError, RecursionError):
                who = "another process"
            raise OutLocked(f"{Path(out)}: in use by {who}; wait for it or choose another --out") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps(info).encode() + b"\n", 0)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = -1

    def __enter__(self) -> "OutLock":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
