"""datamin against a real S3-compatible server (moto's standalone server on loopback):
input listed and read from s3://, output written to s3://, SQL tables over s3://."""
import io
import json

import pyarrow.parquet as pq

from conftest import BUCKET, ROOT, datamin


def test_run_from_s3_to_s3_matches_local_run(s3, tmp_path):
    client, env = s3
    p = datamin("run", "--policy", ROOT / "examples" / "research.toml", "--input", f"s3://{BUCKET}/in/",
                "--output", f"s3://{BUCKET}/out/", "--json", env=env)
    summary = json.loads(p.stdout)
    assert p.returncode == 1, p.stderr  # the truncated testdata file is quarantined
    assert summary["files_found"] == 4 and summary["files_decoded"] == 3
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix="out/")["Contents"]}
    assert {"out/_SUCCESS", "out/records/part-00000-00000.parquet", "out/_rejected/part-00000.jsonl"} <= keys
    body = client.get_object(Bucket=BUCKET, Key="out/records/part-00000-00000.parquet")["Body"].read()
    remote = pq.read_table(io.BytesIO(body))
    local = tmp_path / "local"
    datamin("run", "--policy", ROOT / "examples" / "research.toml", "--input", ROOT / "testdata",
            "--output", local, env=env)
    local_bytes = (local / "records" / "part-00000-00000.parquet").read_bytes()
    assert remote.num_rows == 14 + 21 + 111
    # same input bytes, same policy and key: the same file, whatever the store
    assert body == local_bytes


def test_sql_and_inspect_over_s3(s3):
    _, env = s3
    p = datamin("sql", "--format", "csv",
                f"CREATE EXTERNAL TABLE r STORED AS FIT LOCATION 's3://{BUCKET}/in/' OPTIONS ('on_error' 'skip');"
                "SELECT count(*) AS n, max(heart_rate_bpm) AS hr FROM r;", env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["n,hr", "35,112"], p.stdout
    p = datamin("inspect", f"s3://{BUCKET}/in/fitparse__garmin-fenix-5-run.fit", "--json", env=env)
    info = json.loads(p.stdout)
    assert info["messages"]["record"] == 21
    assert info["product"] == "fenix5"


def test_hive_partitions_over_s3(s3):
    """`subject=<id>/` folders in an S3 prefix become a `subject` column of a STORED AS FIT table."""
    client, env = s3
    client.upload_file(str(ROOT / "testdata" / "fitparse__garmin-fenix-5-run.fit"), BUCKET,
                       "hive/subject=alice/run.fit")
    client.upload_file(str(ROOT / "testdata" / "fitparse__Activity.fit"), BUCKET,
                       "hive/subject=bob/run.fit")
    client.upload_file(str(ROOT / "testdata" / "fitparse__Activity.fit"), BUCKET,
                       "hive/subject=bob/again.FIT")
    p = datamin("sql", "--format", "csv",
                f"CREATE EXTERNAL TABLE t STORED AS FIT LOCATION 's3://{BUCKET}/hive/';"
                "SELECT subject, count(*) AS n, count(heart_rate_bpm) AS hr FROM t GROUP BY subject ORDER BY subject;",
                env=env)
    assert p.returncode == 0, p.stderr
    # fenix 5: 21 records, all with heart rate; Activity.fit: 14 records without (fitdecode)
    assert p.stdout.split() == ["subject,n,hr", "alice,21,21", "bob,28,0"], p.stdout


def test_policy_read_from_s3(s3, tmp_path):
    """A policy is a location like any other: read from S3 it gives the same output as from disk."""
    client, env = s3
    client.upload_file(str(ROOT / "examples" / "research.toml"), BUCKET, "policies/research.toml")
    remote, local = tmp_path / "remote", tmp_path / "local"
    p = datamin("run", "--policy", f"s3://{BUCKET}/policies/research.toml", "--input", ROOT / "testdata",
                "--output", remote, env=env)
    assert p.returncode == 1, p.stderr  # the truncated testdata file is quarantined
    datamin("run", "--policy", ROOT / "examples" / "research.toml", "--input", ROOT / "testdata",
            "--output", local, env=env)
    for t in ("records", "sessions", "activities"):
        assert (remote / t / "part-00000-00000.parquet").read_bytes() == (local / t / "part-00000-00000.parquet").read_bytes()
    p = datamin("explain", "--policy", f"s3://{BUCKET}/policies/missing.toml", env=env, check=False)
    assert p.returncode == 2 and "missing.toml" in p.stderr and "cannot read policy" in p.stderr, p.stderr


def test_keyring_read_from_s3(s3, tmp_path):
    """A key file (here a keyring) is a location too: from S3 it gives the same pseudonyms as from disk."""
    client, env = s3
    ring = tmp_path / "ring.toml"
    ring.write_text('active = "k2"\n[keys]\n"k1" = "an-old-secret-0123456789"\n"k2" = "the-new-secret-0123456789"\n')
    client.upload_file(str(ring), BUCKET, "keys/ring.toml")
    outs = {}
    for name, key_file in (("s3", f"s3://{BUCKET}/keys/ring.toml"), ("local", ring)):
        outs[name] = tmp_path / name
        p = datamin("run", "--policy", ROOT / "examples" / "research.toml", "--input", ROOT / "testdata",
                    "--output", outs[name], "--key-file", key_file, env=env)
        assert p.returncode == 1, p.stderr
    a = pq.read_table(outs["s3"] / "records" / "part-00000-00000.parquet")
    b = pq.read_table(outs["local"] / "records" / "part-00000-00000.parquet")
    assert a.equals(b)
    md = pq.ParquetFile(outs["s3"] / "records" / "part-00000-00000.parquet").metadata.metadata
    assert md[b"datamin.key_id"] == b"k2"
