"""Command-line and server start-up times, against bare-Python baselines in the same run.

    python bench/startup.py              # 5 runs of each, medians
    python bench/startup.py --runs 9

Printed (wall seconds, median of ``--runs``):

* ``python -c pass`` — the interpreter alone (baseline of the CLI figures);
* ``bwenge --version`` and ``bwenge --help`` — no kernel, no plugin is loaded
  (target: ``--help`` under 0.5 s);
* ``bwenge plugins`` — a command that loads config and every plugin;
* cold start to healthy: ``bwenge serve`` in a fresh folder (new data dir, SQLite
  created and migrated, dev secret written) until ``GET /health`` answers 200
  (target: <= 2.5 s), and a warm start on the same folder;
* baseline: a bare FastAPI app under uvicorn until its ``/health`` answers.

Each case also prints the CPU seconds (user + system) the process used to get there,
which a busy machine inflates far less than wall time: on a shared machine compare
those, and the ratios to the baselines.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
BARE_APP = """
from fastapi import FastAPI
import uvicorn
app = FastAPI()
@app.get("/health")
def health():
    return {"status": "healthy"}
uvicorn.run(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), log_level="warning")
"""


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BWENGE_")}
    clean["BWENGE_ENV"] = "development"
    return clean


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], cwd: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of ``cmd``."""
    cpu, started = children_cpu(), time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env(), check=True, capture_output=True)
    return time.perf_counter() - started, children_cpu() - cpu


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def until_healthy(cmd: list[str], cwd: str, port: int) -> tuple[float, float]:
    """(wall, CPU) seconds from spawning ``cmd`` to its first 200 on /health."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    return time.perf_counter() - started, process_cpu(proc.pid)
            except httpx.HTTPError:
                if proc.poll() is not None:
                    raise SystemExit(f"{cmd} exited with {proc.returncode}") from None
                time.sleep(0.01)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def median_of(runs: int, measure) -> tuple[float, float]:
    samples = [measure() for _ in range(runs)]
    return statistics.median(w for w, _ in samples), statistics.median(c for _, c in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    bwenge = str(BIN / "bwenge")
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        base = median_of(args.runs, lambda: timed([sys.executable, "-c", "pass"], tmp))
        rows.append(("python -c pass (baseline)", *base, base))
        for label, cmd in [
            ("bwenge --version", [bwenge, "--version"]),
            ("bwenge --help", [bwenge, "--help"]),
            ("bwenge plugins", [bwenge, "plugins"]),
        ]:
            rows.append((label, *median_of(args.runs, lambda cmd=cmd: timed(cmd, tmp)), base))

        def bare() -> tuple[float, float]:
            port = free_port()
            return until_healthy([sys.executable, "-c", BARE_APP, str(port)], tmp, port)

        bare_t = median_of(args.runs, bare)
        rows.append(("bare FastAPI+uvicorn to /health (baseline)", *bare_t, bare_t))

        def cold() -> tuple[float, float]:
            folder = tempfile.mkdtemp(dir=tmp)
            port = free_port()
            return until_healthy([bwenge, "serve", "--port", str(port)], folder, port)

        warm_dir = tempfile.mkdtemp(dir=tmp)

        def warm() -> tuple[float, float]:
            port = free_port()
            return until_healthy([bwenge, "serve", "--port", str(port)], warm_dir, port)

        warm()  # creates the data dir once
        for label, measure in [("bwenge serve, cold (new data dir)", cold),
                               ("bwenge serve, warm (existing data dir)", warm)]:  # fmt: skip
            rows.append((label, *median_of(args.runs, measure), bare_t))
    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  {'wall s':>7}  {'x base':>6}  {'CPU s':>6}  {'x base':>6}")
    for label, wall, cpu, (base_wall, base_cpu) in rows:
        print(
            f"{label:<{width}}  {wall:7.3f}  {wall / base_wall:6.2f}  "
            f"{cpu:6.3f}  {cpu / max(base_cpu, 1e-3):6.2f}"
        )
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
