"""SIGTERM-to-exit of ``bwenge serve`` with one ingestion job running, against the
same server stopped idle (the baseline), in the same run.

    python bench/shutdown.py               # 3 rounds each
    python bench/shutdown.py --rounds 5 --chunks 400

Each round starts a real ``bwenge serve`` on a free 127.0.0.1 port with a temp
data folder, uploads a text file big enough to keep the job busy, waits until
the job has indexed its first batch, sends SIGTERM and times until the process
has exited. It also checks what the stop must leave: the source ``pending``
with its try not counted. Target: <= 5 s with a job running
(``knowledge.shutdown_grace_seconds`` is 3 s by default).
"""

from __future__ import annotations

import argparse
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "faults"))

from fault_helpers import Instance, World, big_text, wait_for  # noqa: E402


def one_round(root: Path, openai_url: str, chunks: int, busy: bool) -> float:
    instance = Instance(root, openai_url)
    instance.start()
    try:
        if busy:
            world = World(instance)
            with world.client() as c:
                source = world.upload(c, "long.txt", big_text(chunks, f"topic{time.time_ns()}"))
                world.wait_status(c, source, {"processing"}, 120)
                wait_for(
                    lambda: f"Source {source}: indexed" in instance.log.read_text(errors="replace"),
                    300,
                    "the first indexed batch",
                )
        seconds = instance.kill(signal.SIGTERM)
    finally:
        if instance.proc.poll() is None:
            instance.kill(signal.SIGKILL)
    if busy:
        with sqlite3.connect(instance.data / "bwenge.db") as db:
            status, attempts = db.execute(
                "SELECT status, attempts FROM knowledge_sources WHERE id = ?", (source,)
            ).fetchone()
        assert (status, attempts) == ("pending", 0), (status, attempts)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=300)
    args = parser.parse_args()
    from bwenge_llm.testing import OpenAIServer

    with OpenAIServer() as llm, tempfile.TemporaryDirectory() as tmp:
        idle, busy = [], []
        for n in range(args.rounds):
            idle.append(one_round(Path(tmp) / f"idle{n}", llm.base_url, args.chunks, False))
            busy.append(one_round(Path(tmp) / f"busy{n}", llm.base_url, args.chunks, True))
            print(f"round {n + 1}: idle {idle[-1]:.2f} s, one job running {busy[-1]:.2f} s")
    base, job = statistics.median(idle), statistics.median(busy)
    print(f"SIGTERM to exit, median of {args.rounds}: idle {base:.2f} s, job running {job:.2f} s")
    print(f"ratio job/idle {job / base:.2f}; worst with a job {max(busy):.2f} s (target <= 5 s)")
    print("every interrupted source was pending again with its try not counted")
    sys.exit(0 if max(busy) <= 5 else 1)


if __name__ == "__main__":
    main()
