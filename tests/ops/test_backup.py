"""``bwenge backup`` of a running instance while a load test writes, ``bwenge restore``
into an empty data dir: every write acknowledged before the backup started is there,
and the restored instance answers the same questions with the same citations."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from .ops_helpers import Api, Server, base_env, bwenge, cli_in_process

TOPICS = [
    ("Photosynthesis", "Photosynthesis happens in the chloroplasts, where light makes glucose."),
    ("Volcanoes", "Volcanoes erupt when magma rises through cracks in the crust of the Earth."),
    ("Fractions", "A fraction has a numerator above the line and a denominator below it."),
    ("Rivers", "The Nile is the longest river in Africa and flows north into the sea."),
]
QUESTIONS = {
    "Photosynthesis": "Where does photosynthesis happen?",
    "Volcanoes": "Why do volcanoes erupt?",
    "Fractions": "What is below the line in a fraction?",
    "Rivers": "Which river is the longest in Africa?",
}

pytestmark = pytest.mark.slow
NO_API_LIMITS = {"BWENGE_RATE_LIMITS__ENABLED": "false"}  # the load is one user, flat out


class Load:
    """Writes in a loop (a persona, a source, a question) and records what was
    acknowledged, with the time each acknowledgement arrived."""

    def __init__(self, api: Api):
        self.api = Api(api.url, api.token)
        self.acked: list[tuple[float, str, str]] = []  # (time, kind, id)
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self, most: int = 8) -> None:
        n = 0
        while not self.stop.is_set() and n < most:
            n += 1
            try:
                topic, text = TOPICS[n % len(TOPICS)]
                persona = self.api.persona(f"load {n} {topic}")
                self.acked.append((time.monotonic(), "persona", persona))
                source = self.api.upload(
                    persona, f"load-{n}.txt", f"{text} (copy {n})\n", f"{topic} {n}"
                )
                self.acked.append((time.monotonic(), "source", source))
                self.api.ask(persona, QUESTIONS[topic], f"load-{n}")
                self.acked.append((time.monotonic(), "answer", persona))
            except Exception as exc:  # the test fails on any, below
                self.errors.append(repr(exc))
                return

    def acked_before(self, moment: float) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {"persona": set(), "source": set(), "answer": set()}
        for at, kind, ident in list(self.acked):
            if at < moment:
                out[kind].add(ident)
        return out


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("backup")
    env_a = base_env(tmp / "a", tmp / "a" / "data", **NO_API_LIMITS)
    server = Server(env_a, tmp / "a.log").wait_healthy()
    try:
        api = Api(server.url)
        api.register("Backup School")
        seeded = {}
        for topic, text in TOPICS:
            persona = api.persona(topic)
            seeded[topic] = (persona, api.upload(persona, f"{topic}.txt", text + "\n", topic))
        api.wait_ready([s for _p, s in seeded.values()])

        load = Load(api)
        load.thread.start()
        while len(load.acked) < 6 and not load.errors:  # the load is writing
            time.sleep(0.05)
        started = time.monotonic()
        archive = tmp / "bwenge-backup.tar.gz"
        result = bwenge("backup", str(archive), env=env_a)
        finished = time.monotonic()
        time.sleep(0.3)  # writes after the backup too
        load.stop.set()
        load.thread.join(120)
        assert result.returncode == 0, result.stdout + result.stderr
        assert not load.errors, load.errors
        acked = load.acked_before(started)
        during = load.acked_before(finished)
        assert acked["source"], "the load wrote nothing before the backup started"
        api.wait_ready([s for _t, kind, s in load.acked if kind == "source"])
        yield {
            "tmp": tmp,
            "archive": archive,
            "api_a": api,
            "seeded": seeded,
            "acked": acked,
            "during": during,
            "all": load.acked_before(time.monotonic() + 1),
            "email": api.email,
            "server_a": server,
        }
    finally:
        server.stop()


@pytest.fixture(scope="module")
def restored(backed_up):
    tmp = backed_up["tmp"]
    (tmp / "b").mkdir(exist_ok=True)
    env_b = base_env(tmp / "b", tmp / "b" / "data", **NO_API_LIMITS)
    result = bwenge("restore", str(backed_up["archive"]), env=env_b)
    assert result.returncode == 0, result.stdout + result.stderr
    server = Server(env_b, tmp / "b.log").wait_healthy()
    try:
        api = Api(server.url)
        api.login(backed_up["email"])
        yield api
    finally:
        server.stop()


def test_every_write_acknowledged_before_the_backup_is_restored(backed_up, restored):
    acked = backed_up["acked"]
    personas_b = {p["persona_id"] for p in restored.personas()}
    sources_b = {s["source_id"]: s for s in restored.sources()}
    seeded = backed_up["seeded"]
    assert {p for p, _s in seeded.values()} <= personas_b
    assert {s for _p, s in seeded.values()} <= set(sources_b)
    assert acked["persona"] <= personas_b, acked["persona"] - personas_b
    assert acked["source"] <= set(sources_b), acked["source"] - set(sources_b)
    # nothing appears that the original never acknowledged or had
    personas_a = {p["persona_id"] for p in backed_up["api_a"].personas()}
    assert personas_b <= personas_a
    assert set(sources_b) <= {s["source_id"] for s in backed_up["api_a"].sources()}
    # and the backup is one moment: every restored source's persona is restored too
    assert {s["persona_id"] for s in sources_b.values()} <= personas_b


def test_the_restored_instance_lists_the_same_personas_and_sources(backed_up, restored):
    """The backup is one moment of the original: what the restored instance lists,
    the original lists the same (writes after that moment aside)."""

    def view(api, persona_ids, source_ids):
        personas = {p["persona_id"]: p["name"] for p in api.personas()}
        sources = {s["source_id"]: (s["title"], s["persona_id"]) for s in api.sources()}
        return (
            {k: v for k, v in personas.items() if k in persona_ids},
            {k: v for k, v in sources.items() if k in source_ids},
        )

    personas = {p["persona_id"] for p in restored.personas()}
    sources = {s["source_id"] for s in restored.sources()}
    assert view(backed_up["api_a"], personas, sources) == view(restored, personas, sources)


def test_the_restored_instance_answers_with_the_same_citations(backed_up, restored):
    restored.wait_ready([s["source_id"] for s in restored.sources()])
    names = {p["persona_id"]: p["name"] for p in restored.personas()}
    seeded = {p for p, _s in backed_up["seeded"].values()}
    loaded = sorted(p for p in names if p not in seeded)[:3]
    checked = 0
    for persona_id, name in sorted((p, names[p]) for p in seeded | set(loaded)):
        topic = next(t for t in QUESTIONS if t in name)
        session = f"compare-{uuid.uuid4().hex[:8]}"
        a = backed_up["api_a"].ask(persona_id, QUESTIONS[topic], session)
        b = restored.ask(persona_id, QUESTIONS[topic], session)
        cited_a = [(c["source_id"], c.get("title")) for c in a["citations"]]
        cited_b = [(c["source_id"], c.get("title")) for c in b["citations"]]
        assert cited_a and cited_a == cited_b, (name, a, b)
        assert a["response_text"] == b["response_text"]
        checked += 1
    assert checked >= len(TOPICS) + 1  # the seeded personas and some the load made


def _rewrite(archive: Path, target: Path, change) -> None:
    with tarfile.open(archive) as src, tarfile.open(target, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            data = change(member.name, data)
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))


def test_restore_refuses_a_schema_this_installation_does_not_know(backed_up, tmp_path):
    def newer(name, data):
        if name == "manifest.json":
            manifest = json.loads(data)
            manifest["schema"]["revisions"].append("f00dfeed0001")
            return json.dumps(manifest).encode()
        return data

    archive = tmp_path / "newer.tar.gz"
    _rewrite(backed_up["archive"], archive, newer)
    data_dir = tmp_path / "data"
    result = cli_in_process("restore", str(archive), env=base_env(tmp_path, data_dir))
    assert result.exit_code == 1  # a failure, not a usage error (docs/cli.md)
    message = " ".join(result.output.split())
    assert "schema revisions this installation doesn't know (f00dfeed0001)" in message
    assert not data_dir.exists() or not any(data_dir.iterdir())


def test_restore_refuses_a_damaged_archive_and_a_used_data_dir(backed_up, tmp_path):
    def damaged(name, data):
        return data[:-1] + bytes([data[-1] ^ 1]) if name.startswith("files/") else data

    archive = tmp_path / "damaged.tar.gz"
    _rewrite(backed_up["archive"], archive, damaged)
    data_dir = tmp_path / "data"
    result = cli_in_process("restore", str(archive), env=base_env(tmp_path, data_dir))
    assert result.exit_code == 1  # a failure, not a usage error (docs/cli.md)
    assert "damaged (checksum)" in " ".join(result.output.split())
    assert not data_dir.exists() or not any(data_dir.iterdir())

    data_dir.mkdir(exist_ok=True)
    (data_dir / "something.txt").write_text("in use")
    result = cli_in_process("restore", str(backed_up["archive"]), env=base_env(tmp_path, data_dir))
    assert result.exit_code == 1  # a failure, not a usage error (docs/cli.md)
    assert "needs an empty data dir" in " ".join(result.output.split())
    assert sorted(p.name for p in data_dir.iterdir()) == ["something.txt"]


def test_the_manifest_records_versions_schema_and_checksums(backed_up):
    with tarfile.open(backed_up["archive"]) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        names = set(tar.getnames())
    assert manifest["format"] == "bwenge-backup" and manifest["bwenge_version"]
    assert manifest["schema"]["revisions"] and manifest["plugins"]["knowledge"]
    assert {m["name"] for m in manifest["members"]} | {"manifest.json"} == names
    assert all(len(m["sha256"]) == 64 for m in manifest["members"])
    assert not any(n.startswith("files/chroma") for n in names)
