"""Locks for run folders that two course processes may share (two notebooks, a CLI run).

A lock is a small file, `.<name>.lock` next to what it guards, created with
O_CREAT | O_EXCL (only one process can create it) and holding who took it:

    {"pid": 4242, "host": "laptop", "since": "2026-11-29 10:12:03", "token": "..."}

It is removed when the work is done. A lock whose process is gone (same host, no
such process: a killed kernel, a crash) is stale and taken over. One taken on
another host cannot be checked from here, so it is reported with the command
that removes it. A process may take a lock it already holds (they nest).

Network and Drive mounts (Google Drive in Colab, SMB, NFS) honour O_EXCL and
renames less strictly than a local disk, so after creating a lock the file is
read back and must carry this process's token; writers also never rely on a
rename alone to say that something is complete (see companion.checkpoints).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from .config import CourseError

HOST = socket.gethostname()
_TOKEN = uuid.uuid4().hex  # this process, also when a pid repeats across hosts
_HELD: dict[Path, int] = {}  # lock path -> how many times this process holds it
POLL_SECONDS = (0.02, 1.0)  # a waiting process looks again: first soon, then
# every second at most (a report is written in milliseconds, a stage in minutes)


def lock_path(target: str | Path) -> Path:
    """The lock file of `target` (a file or folder): `.<name>.lock` beside it."""
    target = Path(target)
    return target.with_name(f".{target.name}.lock")


def holder(path: str | Path) -> dict | None:
    """Who holds the lock file `path` ({pid, host, since, token}), None if free."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # being written this instant, or damaged
        return {"pid": None, "host": None, "since": "?", "token": None}


def is_stale(info: dict) -> bool:
    """True when the holder ran on this host and its process no longer exists."""
    if info.get("host") != HOST or not isinstance(info.get("pid"), int):
        return False
    try:
        os.kill(info["pid"], 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, another user's
        return False
    return False


def describe(info: dict) -> str:
    """'process 4242 on laptop since 2026-11-29 10:12:03'."""
    return f"process {info.get('pid')} on {info.get('host')} since {info.get('since')}"


def _try_create(path: Path) -> bool:
    """Create the lock file for this process; False when another holds it."""
    mine = {"pid": os.getpid(), "host": HOST, "token": _TOKEN,
            "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(mine, f)
    # a weak mount may have let another process create it too: the last one wins
    return (holder(path) or {}).get("token") == _TOKEN


def _clear_if_stale(path: Path, info: dict) -> bool:
    """Remove a stale lock (only if it still names the same dead process)."""
    if not is_stale(info) or holder(path) != info:
        return False
    print(f"note: taking over {path}: {describe(info)} is gone")
    path.unlink(missing_ok=True)
    return True


@contextmanager
def locked(path: str | Path, what: str, wait: bool = True):
    """Hold the lock file `path` inside the block; `what` names the work for messages.

    wait=True waits (saying once for whom) until the holder finishes; wait=False
    raises CourseError naming the holder and what to do.
    """
    path = Path(path)
    if path in _HELD:  # nested in this process
        _HELD[path] += 1
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        told, pause = False, POLL_SECONDS[0]
        while not _try_create(path):
            info = holder(path)
            if info is None or _clear_if_stale(path, info):
                continue
            if not wait:
                raise CourseError(f"{what} is being written by {describe(info)}: wait "
                                  f"for it to finish (if that process is gone, delete "
                                  f"{path})")
            if not told and pause >= POLL_SECONDS[1]:  # say so only when it lasts
                print(f"waiting: {what} is being written by {describe(info)}")
                told = True
            time.sleep(pause)
            pause = min(2 * pause, POLL_SECONDS[1])
        _HELD[path] = 1
    try:
        yield path
    finally:
        _HELD[path] -= 1
        if not _HELD[path]:
            del _HELD[path]
            if (holder(path) or {}).get("token") == _TOKEN:
                path.unlink(missing_ok=True)


def replace_file(path: str | Path, text: str) -> None:
    """Write `text` to `path` via a private temporary file and os.replace."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{HOST}-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def merge_entry(path: str | Path, key: str, value, read) -> None:
    """Set `key` of the JSON object in `path` to `value`: read, merge, write, locked.

    read(path) -> dict is the file's current content (its own rule for a missing
    or damaged file); entries other processes wrote meanwhile are kept.
    """
    path = Path(path)
    with locked(lock_path(path), str(path)):
        content = read(path)
        content[key] = value
        replace_file(path, json.dumps(content, indent=1))
