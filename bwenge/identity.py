"""A stable identity for this worker process, kept under ``data_dir/run``.

An instance (one ``data_dir``) gets a random id once. Each process serving it
takes the lowest free *slot*: an exclusive ``flock`` on ``run/worker-<n>.lock``,
held for the life of the process and dropped by the operating system when it
dies, however it dies. The identity is ``<instance>-<n>``.

What it proves: a process that holds slot ``n`` knows that work recorded under
``<instance>-<n>`` by anyone else was left by a process that is gone — so
it can take that work back at once, instead of waiting for a lease to expire.
Several workers on one ``data_dir`` hold different slots and never take each
other's work.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from pathlib import Path

MAX_SLOTS = 256


class WorkerIdentity:
    def __init__(self, data_dir: Path):
        self.folder = Path(data_dir) / "run"
        self._fd: int | None = None
        self.id: str | None = None

    def acquire(self) -> str:
        if self.id is not None:
            return self.id
        self.folder.mkdir(parents=True, exist_ok=True)
        instance = self._instance_id()
        for slot in range(MAX_SLOTS):
            fd = os.open(self.folder / f"worker-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._fd, self.id = fd, f"{instance}-{slot}"
            return self.id
        raise RuntimeError(f"more than {MAX_SLOTS} processes serve {self.folder.parent}")

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd, self.id = None, None

    def _instance_id(self) -> str:
        path = self.folder / "instance-id"
        with contextlib.suppress(FileNotFoundError):
            value = path.read_text().strip()
            if value:
                return value
        value = uuid.uuid4().hex[:12]
        tmp = self.folder / f".instance-id.{os.getpid()}"
        tmp.write_text(value + "\n")
        try:
            os.link(tmp, path)  # first writer wins; a concurrent starter reads its id
        except FileExistsError:
            value = path.read_text().strip()
        finally:
            tmp.unlink()
        return value
