"""Time to answerable: a short text upload from the upload's response to ``ready``.

    python bench/first_ready.py            # 3 fresh servers, medians
    python bench/first_ready.py --runs 5
    python bench/first_ready.py --tour     # also run README.md's tour as written

Each run starts ``bwenge serve`` in a new folder (embedded default: SQLite, embedded
Chroma, offline MiniLM, in-process workers), waits for ``GET /health`` and at once
(the worst case: the start-up warm-up may still be running) registers, creates a
persona and uploads the README tour's one-line ``notes.txt``, polling
``/knowledge/{id}/status`` every 50 ms:

* **first upload** — the first upload after start (targets: ≤ 2 s);
* **warm upload** — a second file right after (target: ≤ 1 s);
* whether the tour's question is then answered from the notes (a citation).

``--tour`` extracts the shell block of README.md's "A five-minute tour", points it
at a fresh server's port and runs it with bash, exactly as written otherwise, and
checks that step 3 printed ``ready`` and step 4 answered from the notes.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from startup import env, free_port  # noqa: E402

BIN = Path(sys.executable).parent
README = Path(__file__).resolve().parent.parent / "README.md"
NOTES = (
    b"Photosynthesis is the process by which green plants use sunlight, water and carbon "
    b"dioxide to make glucose and oxygen. It takes place in the chloroplasts.\n"
)
PASSWORD = "Startup-bench-password-7"


@contextmanager
def server(folder: str):
    """A fresh ``bwenge serve``; yields its base URL once /health answers."""
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "bwenge"), "serve", "--port", str(port)],
        cwd=folder,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"bwenge serve exited with {proc.returncode}") from None
                time.sleep(0.02)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=60)


MORE_NOTES = (
    b"Respiration releases the energy stored in glucose. In most cells it happens in the "
    b"mitochondria and needs oxygen.\n"
)


def upload_until_ready(
    client: httpx.Client, headers, persona_id: str, name: str, content: bytes = NOTES
) -> float:
    """Seconds from the upload's response to ``ready``."""
    r = client.post(
        "/knowledge/upload",
        headers=headers,
        files={"file": (name, content, "text/plain")},
        data={"persona_id": persona_id, "title": "Biology notes"},
    )
    r.raise_for_status()
    returned = time.perf_counter()
    source = r.json()["upload_id"]
    while True:
        r = client.get(f"/knowledge/{source}/status", headers=headers)
        if r.status_code == 429:  # the API's rate limit: poll less often
            time.sleep(0.2)
            continue
        status = r.json()["status"]
        if status == "ready":
            return time.perf_counter() - returned
        if status == "failed" or time.perf_counter() - returned > 120:
            raise SystemExit(f"upload {name} ended {status}")
        time.sleep(0.05)


def one_run() -> tuple[float, float, bool]:
    with tempfile.TemporaryDirectory() as folder, server(folder) as base:
        with httpx.Client(base_url=base, timeout=60) as client:
            token = client.post(
                "/auth/register",
                json={
                    "name": "Amina Uwase",
                    "email": "amina@example.org",
                    "password": PASSWORD,
                    "org_name": "Kigali Science School",
                },
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            persona = client.post(
                "/personas",
                headers=headers,
                json={"name": "Biology Tutor", "description": "Secondary-school biology"},
            ).json()["persona_id"]
            first = upload_until_ready(client, headers, persona, "notes.txt")
            warm = upload_until_ready(client, headers, persona, "more-notes.txt", MORE_NOTES)
            answer = client.post(
                "/ai/respond",
                headers=headers,
                json={
                    "persona_id": persona,
                    "session_id": "bench-1",
                    "user_message": "Where does photosynthesis take place?",
                },
            ).json()
            answered = bool(answer.get("citations")) and "chloroplast" in answer.get(
                "response_text", ""
            )
            return first, warm, answered


def tour_script(base: str) -> str:
    text = README.read_text()
    section = text.split("## A five-minute tour", 1)[1]
    block = re.search(r"```console\n(.*?)```", section, re.S).group(1)
    return block.replace("localhost:8000", base.removeprefix("http://"))


def run_tour() -> bool:
    with tempfile.TemporaryDirectory() as folder, server(folder) as base:
        env_ = env()
        env_["PATH"] = f"{BIN}{os.pathsep}{env_.get('PATH', '')}"
        started = time.perf_counter()
        done = subprocess.run(
            ["bash", "-c", tour_script(base)],
            cwd=folder,
            env=env_,
            capture_output=True,
            text=True,
            timeout=300,
        )
        took = time.perf_counter() - started
    out = done.stdout
    ready = bool(re.search(r"^ready$", out, re.M))
    answered = '"citations":[{' in out.replace(" ", "") and "chloroplast" in out
    print(f"README tour: exit {done.returncode}, {took:.1f} s, status ready: {ready}, "
          f"answered from the notes: {answered}")  # fmt: skip
    if not (ready and answered):
        print(out[-2000:], done.stderr[-2000:], sep="\n")
    return ready and answered


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tour", action="store_true", help="also run README.md's tour")
    args = parser.parse_args()
    runs = [one_run() for _ in range(args.runs)]
    for n, (first, warm, answered) in enumerate(runs, 1):
        print(f"run {n}: first upload -> ready {first:.2f} s, warm {warm:.2f} s, "
              f"answered from the notes: {answered}")  # fmt: skip
    print(
        f"median: first {statistics.median(r[0] for r in runs):.2f} s, "
        f"warm {statistics.median(r[1] for r in runs):.2f} s "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    ok = all(r[2] for r in runs)
    if args.tour:
        ok = run_tour() and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
