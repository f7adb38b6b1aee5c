"""Kafka micro-batches through a real broker (Tansu, Kafka wire protocol, on loopback):
JSON messages produced by an independent client (confluent-kafka / librdkafka) into topics of
3 partitions are minimized into Parquet exactly once, checked message by message by
(partition, offset); malformed messages are dead-lettered with their coordinates.

The listening history is the real Spotify `StreamingHistory` export in ../shared/data/json.
"""
import json
import os
import random
import signal
import subprocess
import time

import pyarrow.parquet as pq
import pytest

from conftest import BIN, KEY, ROOT, create_topic, datamin

ROOT_EXAMPLES = ROOT / "examples"

PARTITIONS = 3

POLICY = """
name = "listening history"

[tables.plays]
columns = { endTime = "timestamp", artistName = "string", trackName = "string", msPlayed = "long" }
timestamp_format = "yyyy-MM-dd HH:mm"
keep = ["endTime", "artistName", "trackName", "msPlayed", "key", "partition", "offset"]

[[tables.plays.rules]]
rule = "truncate_time"
columns = ["endTime"]
unit = "hour"

[[tables.plays.rules]]
rule = "pseudonymize"
columns = ["artistName"]
"""


def history(shared):
    return json.loads((shared / "json" / "spotifyviz__StreamingHistory5.json").read_text())


def produce(bootstrap, topic, values, key_of=lambda i: b"listener-1"):
    """Produces `values` (bytes) round-robin over the partitions; returns
    {(partition, offset): value} as the broker acknowledged them."""
    from confluent_kafka import Producer
    acked = {}

    def on_delivery(err, msg):
        assert err is None, err
        acked[(msg.partition(), msg.offset())] = msg.value()

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for i, v in enumerate(values):
        p.produce(topic, v, key=key_of(i), partition=i % PARTITIONS, on_delivery=on_delivery)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(30) == 0
    assert len(acked) == len(values)
    return acked


def read_output(out):
    """Rows of the committed output: the files named by the sink log, read as Spark does
    (the latest `<N>.compact` and the batches after it)."""
    logdir = out / "plays" / "_spark_metadata"
    logs = {}
    for f in logdir.iterdir():
        n = int(f.name.removesuffix(".compact"))
        logs[n] = (f, f.name.endswith(".compact"))
    compact = max((n for n, (_, c) in logs.items() if c), default=-1)
    files = []
    for n in sorted(logs):
        f, is_compact = logs[n]
        if n < compact or (n == compact and not is_compact):
            continue
        for line in f.read_text().splitlines()[1:]:
            files.append(json.loads(line)["path"].removeprefix("file://"))
    rows = []
    for f in files:
        rows.extend(pq.read_table(f).to_pylist())
    return rows


def test_json_topic_minimized_exactly_once_with_dead_letters(kafka, shared, tmp_path):
    topic = "plays"
    create_topic(kafka, topic, PARTITIONS)
    plays = history(shared)[:3000]
    values = [json.dumps(r).encode() for r in plays]
    bad = {100: b'{"artistName": "x", "msPlayed": ', 1501: b"not json",
           2002: b'{"artistName": "y", "msPlayed": "long"}'}
    for i, v in bad.items():
        values[i] = v
    acked = produce(kafka, topic, values)
    source = dict(acked)

    policy = tmp_path / "plays.toml"
    policy.write_text(POLICY)
    out = tmp_path / "out"
    args = ["run", "--policy", policy, "--input", f"kafka://{kafka}/{topic}", "--output", out,
            "--option", "startingOffsets=earliest", "--option", "maxOffsetsPerTrigger=1000",
            "--json"]
    p = datamin(*args)
    assert p.returncode == 1, p.stderr  # 1: some input rejected
    summary = json.loads(p.stdout)
    assert summary["messages"] == 3000
    assert len(summary["batches"]) >= 3, summary["batches"]
    assert len(summary["rejected"]) == 3

    rows = read_output(out)
    by_po = {(r["partition"], r["offset"]): r for r in rows}
    assert len(by_po) == len(rows) == 3000 - 3, "every good message exactly once"
    bad_po = {po for po, v in acked.items() if v in bad.values()}
    assert set(by_po) == set(acked) - bad_po
    for po, r in by_po.items():
        raw = json.loads(source[po])
        assert r["trackName"] == raw["trackName"]
        assert r["msPlayed"] == raw["msPlayed"]
        assert r["key"] == b"listener-1"
        # truncated to the hour: "2021-04-22 05:41" -> 05:00
        assert r["endTime"].strftime("%Y-%m-%d %H") == raw["endTime"][:13]
        assert r["endTime"].minute == 0
        assert len(r["artistName"]) == 64 and r["artistName"] != raw["artistName"]

    # Dead letters: coordinates and reason, no payload.
    rejected = [json.loads(l) for f in sorted((out / "_rejected").iterdir())
                for l in f.read_text().splitlines()]
    coords = {tuple(int(x) for x in r["file"].rsplit("/", 2)[-2:]) for r in rejected}
    assert coords == bad_po
    assert all(r["reason"] and r["size"] > 0 and len(r["sha256"]) == 64 for r in rejected)

    # Spark's checkpoint layout: initial offsets, then where each batch ends.
    cp = out / "_checkpoint"
    initial = (cp / "sources" / "0" / "0").read_text().splitlines()
    assert initial[0] == "v1" and json.loads(initial[1]) == {topic: {str(p): 0 for p in range(PARTITIONS)}}
    last = max(int(f.name) for f in (cp / "offsets").iterdir())
    lines = (cp / "offsets" / str(last)).read_text().splitlines()
    end = {topic: {str(p): 1 + max(o for (q, o) in acked if q == p) for p in range(PARTITIONS)}}
    assert json.loads(lines[2]) == end
    assert (cp / "commits" / str(last)).exists()

    # The consumer group got the end offsets (for lag tools).
    from confluent_kafka import Consumer, TopicPartition
    group = "datamin-" + json.loads((cp / "metadata").read_text())["id"]
    c = Consumer({"bootstrap.servers": kafka, "group.id": group})
    committed = c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
    c.close()
    assert {tp.partition: tp.offset for tp in committed} == {int(p): o for p, o in end[topic].items()}

    # Nothing new: no batch. New messages: only they are read.
    again = json.loads(datamin(*args).stdout)
    assert again["batches"] == []
    more = produce(kafka, topic, [json.dumps(r).encode() for r in history(shared)[3000:3300]])
    third = json.loads(datamin(*args).stdout)
    assert third["messages"] == 300
    rows = read_output(out)
    assert {(r["partition"], r["offset"]) for r in rows} == set(acked) - bad_po | set(more)


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(kafka, shared, tmp_path):
    topic = "plays-crash"
    create_topic(kafka, topic, PARTITIONS)
    plays = history(shared)
    acked = produce(kafka, topic, [json.dumps(r).encode() for r in plays[:4000]])
    policy = tmp_path / "plays.toml"
    policy.write_text(POLICY)
    out = tmp_path / "out"
    cmd = [str(BIN), "run", "--policy", str(policy), "--input", f"kafka://{kafka}/{topic}",
           "--output", str(out), "--option", "startingOffsets=earliest",
           "--option", "maxOffsetsPerTrigger=150", "--quiet"]
    env = dict(os.environ, DATAMIN_KEY=KEY)
    rng = random.Random(7)
    kills = 0
    for round_ in range(40):
        if round_ == 10:
            acked.update(produce(kafka, topic, [json.dumps(r).encode() for r in plays[4000:4429]]))
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            proc.wait(timeout=rng.uniform(0.05, 0.8))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            continue
        assert proc.returncode == 0, proc.stderr.read().decode()
        if round_ > 10:
            break
    assert kills >= 5, f"only {kills} kills: the test did not interrupt the runner"
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    rows = read_output(out)
    pos = [(r["partition"], r["offset"]) for r in rows]
    assert len(pos) == len(set(pos)), "no message twice"
    assert set(pos) == set(acked), "every message once"


def test_wrapped_answers_from_the_minimized_history(kafka, shared, tmp_path):
    """The worked example (examples/listening-history.toml): the real export produced to a
    topic, minimized (minute → hour), and the "Wrapped" questions answered by `datamin sql`
    over the Parquet output, equal to the answers over the raw export."""
    topic = "plays-wrapped"
    create_topic(kafka, topic, PARTITIONS)
    plays = json.loads((shared / "json" / "spotifyviz__StreamingHistory0.json").read_text())
    produce(kafka, topic, [json.dumps(r).encode() for r in plays])
    out = tmp_path / "out"
    p = datamin("run", "--policy", ROOT_EXAMPLES / "listening-history.toml",
                "--input", f"kafka://{kafka}/{topic}", "--output", out, "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["tables"][0]["rows_out"] == len(plays)

    def sql(q):
        r = datamin("sql", "--format", "json",
                    f"CREATE EXTERNAL TABLE plays STORED AS PARQUET LOCATION '{out}/plays/'; {q}")
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]

    top = sql("SELECT \"artistName\" AS artist, sum(\"msPlayed\") AS ms FROM plays "
              "GROUP BY 1 ORDER BY ms DESC, artist LIMIT 5")
    raw_ms = {}
    for r in plays:
        raw_ms[r["artistName"]] = raw_ms.get(r["artistName"], 0) + r["msPlayed"]
    want = sorted(raw_ms.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert [(r["artist"], r["ms"]) for r in top] == want

    total = sql("SELECT sum(\"msPlayed\") AS ms, count(*) AS n FROM plays")[0]
    assert (total["ms"], total["n"]) == (sum(r["msPlayed"] for r in plays), len(plays))

    by_hour = sql("SELECT extract(hour FROM \"endTime\") AS h, sum(\"msPlayed\") AS ms FROM plays "
                  "GROUP BY 1 ORDER BY 1")
    raw_hour = {}
    for r in plays:
        h = int(r["endTime"][11:13])
        raw_hour[h] = raw_hour.get(h, 0) + r["msPlayed"]
    assert {int(r["h"]): r["ms"] for r in by_hour} == raw_hour
    # ...and the minute is gone.
    minutes = sql("SELECT count(*) AS n FROM plays WHERE extract(minute FROM \"endTime\") <> 0")
    assert minutes[0]["n"] == 0


def test_available_now_ends_while_producers_write(kafka, shared, tmp_path):
    """Spark's availableNow: what was there at start is read (in several batches), and the
    run ends although a producer keeps writing."""
    import threading
    from confluent_kafka import Producer
    topic = "plays-busy"
    create_topic(kafka, topic, PARTITIONS)
    plays = history(shared)
    before = produce(kafka, topic, [json.dumps(r).encode() for r in plays[:2000]])
    stop = threading.Event()

    def keep_writing():
        p = Producer({"bootstrap.servers": kafka, "linger.ms": 5})
        i = 0
        while not stop.is_set():
            p.produce(topic, json.dumps(plays[i % len(plays)]).encode(), partition=i % PARTITIONS)
            p.poll(0)
            i += 1
            time.sleep(0.002)
        p.flush(10)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        policy = tmp_path / "plays.toml"
        policy.write_text(POLICY)
        out = tmp_path / "out"
        t = time.time()
        p = datamin("run", "--policy", policy, "--input", f"kafka://{kafka}/{topic}", "--output", out,
                    "--option", "startingOffsets=earliest", "--option", "maxOffsetsPerTrigger=500", "--json")
        elapsed = time.time() - t
    finally:
        stop.set()
        writer.join()
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert len(summary["batches"]) >= 4
    assert elapsed < 60
    got = {(r["partition"], r["offset"]) for r in read_output(out)}
    assert set(before) <= got, "everything there at start was read"
    assert len(got) == summary["messages"]


def test_processing_time_stream_with_metrics_and_sigterm(kafka, shared, tmp_path):
    """A processing-time stream picks up messages produced while it runs, serves Prometheus
    metrics (messages, rows, batches), and stops at a batch boundary on SIGTERM."""
    import urllib.request
    from conftest import free_port
    topic = "plays-stream"
    create_topic(kafka, topic, PARTITIONS)
    plays = history(shared)
    first = produce(kafka, topic, [json.dumps(r).encode() for r in plays[:300]])
    policy = tmp_path / "plays.toml"
    policy.write_text(POLICY)
    out = tmp_path / "out"
    port = free_port()
    p = subprocess.Popen([str(BIN), "run", "--policy", str(policy), "--input", f"kafka://{kafka}/{topic}",
                          "--output", str(out), "--json", "--trigger", "processing-time=200ms",
                          "--option", "startingOffsets=earliest", "--metrics-addr", f"127.0.0.1:{port}"],
                         env=dict(os.environ, DATAMIN_KEY=KEY), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)

    def scrape(want):
        body = ""
        for _ in range(150):
            time.sleep(0.1)
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            except OSError:
                continue
            if want in body:
                return body
        raise AssertionError(f"{want!r} not in\n{body}")

    try:
        scrape('datamin_messages_total{result="decoded"} 300\n')
        second = produce(kafka, topic, [json.dumps(r).encode() for r in plays[300:500]])
        body = scrape('datamin_messages_total{result="decoded"} 500\n')
        assert 'datamin_rows_out_total{table="plays"} 500\n' in body, body
        assert 'datamin_messages_total{result="rejected"} 0\n' in body
    finally:
        p.send_signal(signal.SIGTERM)
        stdout, stderr = p.communicate(timeout=30)
    assert p.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["stopped"] and summary["messages"] == 500
    got = {(r["partition"], r["offset"]) for r in read_output(out)}
    assert got == set(first) | set(second)
