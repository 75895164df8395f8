"""Ingestion throughput of many small files with ``knowledge.workers = 2`` vs 1.

    python bench/ingest_workers.py                # 40 files, 2 rounds per setting
    python bench/ingest_workers.py --files 20 --rounds 1

Each round is a fresh instance (data folder, SQLite, embedded Chroma) served by the
REST app in this process: the files are uploaded through ``POST /knowledge/upload``
and the round ends when every source is ``ready``. Rounds alternate the settings
(1, 2, 2, 1, ...) so neither always runs on a warmer machine. Printed: files/s per
setting (median of its rounds) and the ratio 2 workers ÷ 1 (target >= 1.6 on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOPICS = (
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen.",
    "The treaty ended the war and fixed the border along the river.",
    "Ohm's law says the current through a conductor is proportional to the voltage.",
    "Supply and demand set the market price of a good.",
    "Enzymes are proteins that speed up chemical reactions in the cell.",
)


def small_file(n: int) -> bytes:
    paragraphs = [f"Note {n}, part {i}. {TOPICS[(n + i) % len(TOPICS)]}" for i in range(12)]
    return "\n\n".join(paragraphs).encode()


def one_round(workers: int, files: int) -> float:
    """Seconds from the first upload until all ``files`` sources are ready."""
    from bwenge_rest.app import create_app
    from fastapi.testclient import TestClient

    from bwenge.kernel import Kernel

    work = Path(tempfile.mkdtemp(prefix="bwenge-bench-workers-"))
    (work / "config").mkdir()
    kernel = Kernel(
        config_dir=work / "config",
        env="testing",
        overrides={
            "data_dir": str(work / "data"),
            "database": {"url": f"sqlite:///{work / 'bench.db'}"},
            "rate_limits": {"enabled": False},
            "knowledge": {"workers": workers, "sweep_seconds": 1},
        },
    ).load()
    with TestClient(create_app(kernel)) as client:
        reg = client.post(
            "/auth/register",
            json={
                "name": "Bench",
                "email": "workers-bench@example.test",
                "password": "Lighthouse-47-harbour",
                "org_name": "Bench",
            },
        )
        assert reg.status_code == 200, reg.text
        headers = {"Authorization": f"Bearer {reg.json()['access_token']}"}
        persona_id = client.post("/personas", json={"name": "Bench"}, headers=headers).json()[
            "persona_id"
        ]
        service = kernel.service("knowledge")

        def upload(name: str, data: bytes) -> str:
            r = client.post(
                "/knowledge/upload",
                headers=headers,
                data={"persona_id": persona_id},
                files={"file": (name, data, "text/plain")},
            )
            r.raise_for_status()
            return r.json()["source_id"]

        def wait(ids: list[str]) -> None:
            while True:  # the status rows directly: polling the API costs the jobs CPU
                rows = [service.find(sid) for sid in ids]
                if bad := [s for s in rows if s.status == "failed"]:
                    sys.exit(f"ingestion failed: {bad[0].error_message}")
                if all(s.status == "ready" for s in rows):
                    return
                time.sleep(0.05)

        wait([upload("warm-up.txt", small_file(-1))])  # model, parser, collection
        started = time.perf_counter()
        ids = [upload(f"note-{n}.txt", small_file(n)) for n in range(files)]
        wait(ids)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2, help="rounds per setting")
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]
    os.environ.setdefault("BWENGE_LOG_LEVEL", "WARNING")

    order = []
    for r in range(args.rounds):
        order += [1, 2] if r % 2 == 0 else [2, 1]
    times: dict[int, list[float]] = {1: [], 2: []}
    for workers in order:
        seconds = one_round(workers, args.files)
        times[workers].append(seconds)
        print(f"workers={workers}: {args.files} files in {seconds:.2f} s")
    rate = {w: args.files / statistics.median(t) for w, t in times.items()}
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    print(f"workers=1: {rate[1]:.2f} files/s; workers=2: {rate[2]:.2f} files/s")
    print(f"2 workers / 1 = {rate[2] / rate[1]:.2f}  (target >= 1.6 on 2 cores)")


if __name__ == "__main__":
    main()
