"""The micro-batch runner as Apache Spark sees its output: `spark.read.parquet(<table dir>)`
reads exactly the committed rows (through `_spark_metadata`), orphans of a killed batch
included; and a runner killed with SIGKILL at random moments while files keep arriving,
then restarted, commits every row exactly once."""
import json
import os
import random
import shutil
import signal
import subprocess
import time

import pyarrow.parquet as pq

from conftest import BIN, KEY, ROOT, datamin

POLICY = ROOT / "examples" / "research.toml"
TABLES = ("records", "sessions", "activities")


def stage(files, into, start=0):
    """Copies `files` into `into` with increasing modification times (one second apart)."""
    into.mkdir(parents=True, exist_ok=True)
    t0 = time.time() - 86_400
    for i, f in enumerate(files, start):
        to = into / f"{i:04d}-{f.name}"
        shutil.copyfile(f, to)
        os.utime(to, (t0 + i, t0 + i))


def run(inp, out, *extra):
    p = datamin("run", "--policy", POLICY, "--input", inp, "--output", out, "--json", *extra)
    return json.loads(p.stdout)


def log_entries(log):
    """Every entry of a Spark metadata log: the latest `<N>.compact`, then the batches after."""
    files = {int(f.name.split(".")[0]): f for f in log.iterdir() if f.name.split(".")[0].isdigit()}
    compacts = [n for n, f in files.items() if f.name.endswith(".compact")]
    start = max(compacts, default=0)
    out = []
    for n in sorted(files):
        if n >= start:
            lines = files[n].read_text().splitlines()
            assert lines[0] == "v1"
            out += [json.loads(l) for l in lines[1:]]
    return out


def same_rows(spark, a, b):
    """The committed rows of every table of `a` and `b` are the same multiset."""
    for t in TABLES:
        x, y = spark.read.parquet(str(a / t)), spark.read.parquet(str(b / t))
        nx, ny = x.count(), y.count()
        assert nx == ny, f"{t}: {nx} rows vs {ny}"
        assert x.exceptAll(y).count() == 0 and y.exceptAll(x).count() == 0, t


def test_spark_reads_exactly_the_committed_rows(shared, tmp_path, spark):
    inp, out, one = tmp_path / "in", tmp_path / "out", tmp_path / "one"
    stage(sorted((shared / "fit").glob("*.fit")), inp)
    s = run(inp, out, "--option", "maxFilesPerTrigger=7")
    assert s["batches"] == list(range(10))
    assert (out / "records" / "_spark_metadata" / "9.compact").exists()
    rows = {t["table"]: t["rows_out"] for t in s["tables"]}
    for t in TABLES:
        assert spark.read.parquet(str(out / t)).count() == rows[t], t

    # A killed batch leaves data files the log does not list: readers that trust the log
    # (Spark) do not see them; a plain directory listing would.
    orphan = out / "records" / "part-00042-00000.parquet"
    shutil.copyfile(out / "records" / "part-00003-00000.parquet", orphan)
    assert spark.read.parquet(str(out / "records")).count() == rows["records"]
    plain = sum(pq.read_metadata(f).num_rows for f in (out / "records").glob("*.parquet"))
    assert plain > rows["records"]
    orphan.unlink()

    # ten batches hold the same rows as one
    s1 = run(inp, one)
    assert s1["batches"] == [0]
    same_rows(spark, out, one)


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(shared, tmp_path, spark):
    files = sorted((shared / "fit").glob("*.fit"))
    inp, out, clean = tmp_path / "in", tmp_path / "out", tmp_path / "clean"
    rng = random.Random(20261202)
    env = dict(os.environ, DATAMIN_KEY=KEY)
    cmd = [str(BIN), "run", "--policy", str(POLICY), "--input", str(inp), "--output", str(out),
           "--trigger", "processing-time=0", "--option", "maxFilesPerTrigger=2", "--quiet"]
    staged = kills = 0
    while staged < len(files) or kills < 25:
        n = rng.randint(0, 4)
        stage(files[staged:staged + n], inp, staged)
        staged = min(len(files), staged + n)
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.05, 1.0))
        p.send_signal(signal.SIGKILL)
        _, err = p.communicate()
        assert p.returncode == -signal.SIGKILL, err.decode()
        kills += 1
    # then let it finish what is there
    run(inp, out, "--option", "maxFilesPerTrigger=2")
    commits = list((out / "_checkpoint" / "commits").iterdir())
    assert len(commits) >= 20, f"only {len(commits)} batches"

    s = run(inp, clean)
    same_rows(spark, out, clean)
    # every corrupt file quarantined exactly once
    rejected = [json.loads(l)["file"] for f in (out / "_rejected").glob("*.jsonl")
                for l in f.read_text().splitlines()]
    assert sorted(rejected) == sorted(r["file"] for r in s["rejected"])
    # every file read exactly once (the checkpoint's source log)
    logged = [e["path"] for e in log_entries(out / "_checkpoint" / "sources" / "0")]
    assert sorted(logged) == sorted(p.as_uri() for p in inp.iterdir())


def test_metrics_json_logs_and_graceful_stop(shared, tmp_path):
    """A stream serves Prometheus metrics, logs JSON lines, and stops at a batch boundary on
    SIGTERM with its summary."""
    import socket
    import urllib.request
    inp, out = tmp_path / "in", tmp_path / "out"
    stage(sorted((shared / "fit").glob("*.fit"))[:6], inp)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    env = dict(os.environ, DATAMIN_KEY=KEY)
    p = subprocess.Popen([str(BIN), "--log-format", "json", "run", "--policy", str(POLICY),
                          "--input", str(inp), "--output", str(out), "--json",
                          "--trigger", "processing-time=200ms", "--option", "maxFilesPerTrigger=2",
                          "--metrics-addr", f"127.0.0.1:{port}"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        body = ""
        for _ in range(100):
            time.sleep(0.1)
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            except OSError:
                continue
            if "datamin_last_committed_batch 2\n" in body:
                break
        assert "datamin_last_committed_batch 2\n" in body, body
        assert "datamin_batches_total 3\n" in body
        assert 'datamin_files_total{result="decoded"}' in body and body.endswith("# EOF\n")
        rows = sum(int(l.split()[-1]) for l in body.splitlines() if l.startswith('datamin_rows_out_total{table="records"}'))
        assert rows > 0
    finally:
        p.send_signal(signal.SIGTERM)
        stdout, stderr = p.communicate(timeout=30)
    assert p.returncode in (0, 1), stderr
    summary = json.loads(stdout)
    assert summary["stopped"] and summary["batches"] == [0, 1, 2]
    logs = [json.loads(l) for l in stderr.splitlines()]
    committed = [l for l in logs if l["fields"].get("message", "").startswith("batch ")]
    assert [l["fields"]["batch"] for l in committed] == [0, 1, 2]


def test_job_section_and_command_line_options(shared, tmp_path):
    """The policy's [job] options apply; the same option on the command line wins."""
    policy = tmp_path / "job.toml"
    policy.write_text(POLICY.read_text() + "\n[job.options]\nmaxFilesPerTrigger = 20\n")
    inp = shared / "fit"
    p = datamin("run", "--policy", policy, "--input", inp, "--output", tmp_path / "a", "--json")
    assert json.loads(p.stdout)["batches"] == [0, 1, 2, 3]
    p = datamin("run", "--policy", policy, "--input", inp, "--output", tmp_path / "b", "--json",
                "--option", "maxFilesPerTrigger=40")
    assert json.loads(p.stdout)["batches"] == [0, 1]
    bad = tmp_path / "bad.toml"
    bad.write_text(POLICY.read_text() + "\n[job]\ntrigger = \"sometimes\"\n")
    p = datamin("run", "--policy", bad, "--input", inp, "--output", tmp_path / "c", check=False)
    assert p.returncode == 2 and "bad.toml:" in p.stderr and "job.trigger" in p.stderr, p.stderr
