"""Avro messages from Kafka: the real RADAR-base schemas of ../shared/data/avro, encoded by an
independent implementation (fastavro) in Confluent's wire format against a schema registry
served by the test (Confluent's REST endpoint `GET /schemas/ids/{id}`; no registry server is
installable here), and as raw bodies with the `.avsc` given."""
import http.server
import io
import json
import random
import struct
import threading

import fastavro
import pyarrow.parquet as pq
import pytest

from conftest import create_topic, datamin, free_port
from test_kafka import PARTITIONS, produce

SCHEMA_FILE = "radar__fitbit_intraday_heart_rate.avsc"

POLICY = """
[tables.heart_rate]
columns = { time = "double", timeReceived = "double", timeInterval = "int", heartRate = "int", userId = "string" }
keep = ["time", "heartRate", "timeInterval", "userId", "partition", "offset"]

[[tables.heart_rate.rules]]
rule = "quantize"
columns = ["heartRate"]
step = 10

[[tables.heart_rate.rules]]
rule = "quantize"
columns = ["time"]
step = 60
"""


@pytest.fixture(scope="module")
def registry(shared):
    """A schema registry on loopback: id 1 is the RADAR Fitbit intraday heart-rate schema."""
    schemas = {1: (shared / "avro" / SCHEMA_FILE).read_text()}
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            parts = self.path.strip("/").split("/")
            if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and int(parts[2]) in schemas:
                body = json.dumps({"schema": schemas[int(parts[2])]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            else:
                body = json.dumps({"error_code": 40403, "message": "Schema not found"}).encode()
                self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}", requests
    server.shutdown()


def samples(n, seed):
    rng = random.Random(seed)
    t0 = 1_700_000_000.0
    return [{"time": t0 + 5 * i + rng.random(), "timeReceived": t0 + 5 * i + 30.0,
             "timeInterval": 5, "heartRate": rng.randint(48, 185)} for i in range(n)]


def avro_body(schema, record):
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, record)
    return buf.getvalue()


def read_rows(out, table):
    rows = []
    for f in sorted((out / table).glob("part-*.parquet")):
        rows.extend(pq.read_table(f).to_pylist())
    return rows


def check(rows, acked, bad):
    by_po = {(r["partition"], r["offset"]): r for r in rows}
    assert len(by_po) == len(rows)
    assert set(by_po) == set(acked) - set(bad)
    for po, r in by_po.items():
        src = acked[po]
        assert r["heartRate"] % 10 == 0 and abs(r["heartRate"] - src["heartRate"]) <= 5
        assert r["time"] % 60 == 0 and abs(r["time"] - src["time"]) <= 30
        assert r["timeInterval"] == 5
        assert r["userId"] is None  # declared, but not in the writer schema


def test_confluent_wire_format_with_a_schema_registry(kafka, shared, registry, tmp_path):
    url, requests = registry
    schema = fastavro.parse_schema(json.loads((shared / "avro" / SCHEMA_FILE).read_text()))
    topic = "fitbit-hr"
    create_topic(kafka, topic, PARTITIONS)
    recs = samples(900, 1)
    values = [b"\x00" + struct.pack(">I", 1) + avro_body(schema, r) for r in recs]
    values[10] = b"\x00" + struct.pack(">I", 99) + values[10][5:]   # unknown schema id
    values[20] = values[20][:7]                                      # truncated body
    values[30] = b'{"heartRate": 80}'                                # not Avro
    acked_bytes = produce(kafka, topic, values)
    by_value = {v: recs[i] for i, v in enumerate(values)}
    acked = {po: by_value[v] for po, v in acked_bytes.items()}
    bad = {po for po, v in acked_bytes.items() if v in (values[10], values[20], values[30])}

    policy = tmp_path / "hr.toml"
    policy.write_text(POLICY)
    out = tmp_path / "out"
    p = datamin("run", "--policy", policy, "--input", f"kafka://{kafka}/{topic}", "--output", out,
                "--option", "startingOffsets=earliest", "--option", "valueFormat=avro",
                "--option", f"schema.registry.url={url}", "--option", "maxOffsetsPerTrigger=400",
                "--json")
    assert p.returncode == 1, p.stderr
    summary = json.loads(p.stdout)
    assert summary["messages"] == 900
    check(read_rows(out, "heart_rate"), acked, bad)
    reasons = {tuple(int(x) for x in r["file"].rsplit("/", 2)[-2:]): r["reason"]
               for f in (out / "_rejected").iterdir() for r in map(json.loads, f.read_text().splitlines())}
    assert set(reasons) == bad
    assert any("unknown schema id 99" in r for r in reasons.values()), reasons
    assert any("Confluent wire format" in r for r in reasons.values()), reasons
    # Each id is fetched once per run, not once per message or batch.
    assert requests.count("/schemas/ids/1") == 1, requests


def test_raw_avro_bodies_with_the_avsc(kafka, shared, tmp_path):
    avsc = shared / "avro" / SCHEMA_FILE
    schema = fastavro.parse_schema(json.loads(avsc.read_text()))
    topic = "fitbit-hr-raw"
    create_topic(kafka, topic, PARTITIONS)
    recs = samples(300, 2)
    values = [avro_body(schema, r) for r in recs]
    acked_bytes = produce(kafka, topic, values)
    by_value = {v: recs[i] for i, v in enumerate(values)}
    acked = {po: by_value[v] for po, v in acked_bytes.items()}
    policy = tmp_path / "hr.toml"
    policy.write_text(POLICY)
    out = tmp_path / "out"
    p = datamin("run", "--policy", policy, "--input", f"kafka://{kafka}/{topic}", "--output", out,
                "--option", "startingOffsets=earliest", "--option", "valueFormat=avro",
                "--option", f"avroSchema={avsc}")
    assert p.returncode == 0, p.stderr
    check(read_rows(out, "heart_rate"), acked, set())


def test_avro_options_are_checked(kafka, tmp_path):
    policy = tmp_path / "hr.toml"
    policy.write_text(POLICY)
    p = datamin("run", "--policy", policy, "--input", f"kafka://{kafka}/x", "--output", tmp_path / "o",
                "--option", "valueFormat=avro", check=False)
    assert p.returncode == 2
    assert "needs schema.registry.url" in p.stderr
