"""The streaming integration suite, run the same way on a local directory and on an
S3-compatible server (moto on loopback): batches per trigger limit, new files on a restart,
a quarantined file read once, an interrupted batch re-run to the same bytes, cleanSource,
and Spark's sink log with full URIs. The data files of both stores are byte-identical."""
import io
import json
import os
import time

import pyarrow.parquet as pq
import pytest

from conftest import BUCKET, ROOT, datamin

POLICY = ROOT / "examples" / "research.toml"
GOOD = ["fitparse__garmin-fenix-5-run.fit", "tcxparser__sup_activity_1.tcx", "fitparse__Activity.fit"]
BAD = "fitparse__activity-unexpected-eof.fit"


class Local:
    def __init__(self, root):
        self.root = root

    def url(self, rel):
        return str(self.root / rel)

    def uri(self, rel):
        return (self.root / rel).as_uri()

    def put(self, rel, data, t):
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.utime(p, (t, t))

    def get(self, rel):
        return (self.root / rel).read_bytes()

    def exists(self, rel):
        return (self.root / rel).exists()

    def delete(self, rel):
        (self.root / rel).unlink()

    def list(self, rel):
        d = self.root / rel
        return sorted(str(p.relative_to(self.root)) for p in d.rglob("*") if p.is_file()) if d.exists() else []


class S3:
    def __init__(self, client, prefix):
        self.c, self.prefix = client, prefix

    def url(self, rel):
        return f"s3://{BUCKET}/{self.prefix}/{rel}"

    uri = url

    def put(self, rel, data, t):
        # S3 sets the modification time at upload, to the second: upload in order, apart
        time.sleep(1.05)
        self.c.put_object(Bucket=BUCKET, Key=f"{self.prefix}/{rel}", Body=data)

    def get(self, rel):
        return self.c.get_object(Bucket=BUCKET, Key=f"{self.prefix}/{rel}")["Body"].read()

    def exists(self, rel):
        return bool(self.c.list_objects_v2(Bucket=BUCKET, Prefix=f"{self.prefix}/{rel}").get("Contents"))

    def delete(self, rel):
        self.c.delete_object(Bucket=BUCKET, Key=f"{self.prefix}/{rel}")

    def list(self, rel):
        r = self.c.list_objects_v2(Bucket=BUCKET, Prefix=f"{self.prefix}/{rel}")
        return sorted(o["Key"][len(self.prefix) + 1:] for o in r.get("Contents", []))


def scenario(store, env):
    t0 = time.time() - 3600
    files = GOOD[:2] + [BAD, GOOD[2]]
    for i, name in enumerate(files[:2]):
        store.put(f"in/{i}-{name}", (ROOT / "testdata" / name).read_bytes(), t0 + i)

    def run(*extra):
        p = datamin("run", "--policy", POLICY, "--input", store.url("in/"), "--output", store.url("out/"),
                    "--json", "--option", "maxFilesPerTrigger=1", *extra, env=env)
        return json.loads(p.stdout)

    s = run()
    assert s["batches"] == [0, 1]
    for i, name in enumerate(files[2:], 2):
        store.put(f"in/{i}-{name}", (ROOT / "testdata" / name).read_bytes(), t0 + i)
    s = run()
    assert s["batches"] == [2, 3] and len(s["rejected"]) == 1 and s["rejected"][0]["file"].endswith(BAD)
    assert store.exists("out/_rejected/part-00002.jsonl")

    # batch 3 interrupted: no commit, no records log entry, a half-written data file
    good = store.get("out/records/part-00003-00000.parquet")
    store.delete("out/_checkpoint/commits/3")
    store.delete("out/records/_spark_metadata/3")
    store.put("out/records/part-00003-00000.parquet", b"half-written", t0)
    s = run()
    assert s["batches"] == [3] and s["files_found"] == 1 and not s["rejected"]
    assert store.get("out/records/part-00003-00000.parquet") == good

    # a new file, deleted from the input once its batch committed
    store.put("in/4-again.fit", (ROOT / "testdata" / GOOD[0]).read_bytes(), t0 + 4)
    s = run("--option", "cleanSource=delete")
    assert s["batches"] == [4]
    assert not store.exists("in/4-again.fit") and store.exists("in/0-" + GOOD[0])
    assert run()["batches"] == []

    # Spark's sink log: full URIs of exactly the committed files, with their sizes
    log = store.list("out/records/_spark_metadata/")
    assert [l.rsplit("/", 1)[1] for l in log] == ["0", "1", "2", "3", "4"]
    files = {}
    for l in log:
        lines = store.get(l).decode().splitlines()
        assert lines[0] == "v1"
        for e in map(json.loads, lines[1:]):
            assert e["path"].startswith(store.uri("out/records/part-")), e["path"]
            rel = "out/records/" + e["path"].rsplit("/", 1)[1]
            files[rel] = store.get(rel)
            assert e["size"] == len(files[rel]) and e["action"] == "add"
    return files


DATA_FILES = {}


@pytest.mark.parametrize("where", ["local", "s3"])
def test_stream_suite(where, s3, tmp_path):
    client, env = s3
    store = Local(tmp_path) if where == "local" else S3(client, f"suite-{os.getpid()}")
    files = scenario(store, env)
    assert len(files) == 5
    rows = [pq.ParquetFile(io.BytesIO(b)).metadata.num_rows for _, b in sorted(files.items())]
    assert rows == [21, 111, 0, 14, 21]
    # the data files of both stores are the same bytes (the second run compares)
    DATA_FILES[where] = files
    if len(DATA_FILES) == 2:
        assert DATA_FILES["local"] == DATA_FILES["s3"]
