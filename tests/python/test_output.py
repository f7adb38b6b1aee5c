"""The minimized output: readable by pyarrow, Spark-compatible timestamps, allow-list only,
no identifiers of the input left, provenance metadata, determinism."""
import hashlib
import json
import re
import tomllib

import fitdecode
import pyarrow as pa
import pyarrow.parquet as pq

from conftest import ROOT, datamin


def parquet_files(out):
    return sorted(out.glob("*/*.parquet"))


def test_pyarrow_reads_every_file_with_utc_micro_timestamps(research_run):
    out, summary, _ = research_run
    files = parquet_files(out)
    assert {f.parent.name for f in files} == {"records", "sessions", "activities"}
    for f in files:
        t = pq.read_table(f)
        for field in t.schema:
            if pa.types.is_timestamp(field.type):
                assert field.type.unit == "us", f"{f}: {field.name} is {field.type}"
                assert field.type.tz == "UTC", f"{f}: {field.name} is {field.type}"
        md = pq.ParquetFile(f).metadata.metadata or {}
        md = {k.decode(): v.decode() for k, v in md.items()}
        assert len(md["datamin.policy.sha256"]) == 64
        assert md["datamin.key_id"] == "research-2026"
        rules = json.loads(md["datamin.policy.rules"])
        assert rules and all(r["enabled"] for r in rules)
    records = pq.read_table(out / "records" / "part-00000-00000.parquet")
    assert records.num_rows == next(t["rows_out"] for t in summary["tables"] if t["table"] == "records")
    assert records.num_rows > 250_000


def test_only_allow_listed_columns_are_written(research_run):
    out, _, _ = research_run
    policy = tomllib.loads((ROOT / "examples" / "research.toml").read_text())
    for table, spec in policy["tables"].items():
        t = pq.read_table(out / table / "part-00000-00000.parquet")
        assert t.column_names == spec["keep"], table
    assert not (out / "laps").exists(), "laps is not in the policy: it must not be written"


def test_rules_are_applied(research_run):
    out, _, _ = research_run
    r = pq.read_table(out / "records" / "part-00000-00000.parquet").to_pydict()
    assert all(re.fullmatch(r"[0-9a-f]{64}", a) for a in r["activity_id"][:1000])
    ts = [t for t in r["timestamp"] if t is not None]
    assert all(t.second == 0 and t.microsecond == 0 for t in ts)
    lats = {x for x in r["position_lat"] if x is not None}
    # a 500 m grid has far fewer distinct latitudes than raw samples
    assert 0 < len(lats) < 5000
    a = pq.read_table(out / "activities" / "part-00000-00000.parquet").to_pydict()
    assert set(filter(None, a["user_age_years"])) <= {"<18", "[18, 30)", "[30, 40)", "[40, 50)", "[50, 65)", ">=65"}


def identifiers(shared):
    """Serial numbers, names and raw ids from the input, read by fitdecode and from TCX text."""
    ids = set()
    for path in sorted((shared / "fit").glob("*.fit")):
        try:
            with fitdecode.FitReader(str(path), check_crc=fitdecode.CrcCheck.DISABLED,
                                     error_handling=fitdecode.ErrorHandling.IGNORE) as fr:
                for frame in fr:
                    if not isinstance(frame, fitdecode.FitDataMessage):
                        continue
                    for name in ("serial_number", "friendly_name"):
                        if frame.has_field(name):
                            v = frame.get_value(name, fallback=None)
                            if v not in (None, 0, ""):
                                ids.add(str(v))
        except Exception:
            pass
    for path in sorted((shared / "tcx").glob("*.tcx")):
        ids.update(re.findall(r"<UnitId>(\d+)</UnitId>", path.read_text(errors="replace")))
        ids.update(re.findall(r"<Id>([^<]+)</Id>", path.read_text(errors="replace")))
    # raw activity ids (SHA-256 prefix of each file) and file names
    for d in ("fit", "tcx"):
        for path in (shared / d).iterdir():
            ids.add(hashlib.sha256(path.read_bytes()).hexdigest()[:32])
            ids.add(path.stem)
    return {i for i in ids if len(i) >= 4}


def test_no_identifier_of_the_input_survives(research_run, shared):
    out, _, _ = research_run
    ids = identifiers(shared)
    serials = [i for i in ids if i.isdigit()]
    assert len(serials) >= 10, f"expected many serial numbers in the input, found {serials}"
    values = set()
    for f in parquet_files(out):
        for col in pq.read_table(f).columns:
            values.update(str(v) for v in col.to_pylist() if v is not None)
    # numbers must not appear as a value; text identifiers not even inside a value
    blob = "\n".join(sorted(values))
    found = [i for i in ids if i in values or (not i.isdigit() and i in blob)]
    assert not found, f"identifiers found in output: {found[:10]}"
    # and not in the raw bytes either (metadata, footer)
    raw = b"".join(f.read_bytes() for f in parquet_files(out))
    assert not [i for i in serials if len(i) >= 8 and i.encode() in raw]


def test_two_runs_are_byte_identical(research_run, tmp_path):
    out, _, _ = research_run
    inp = out.parent / "input"
    again = tmp_path / "again"
    datamin("run", "--policy", ROOT / "examples" / "research.toml", "--input", inp, "--output", again, "--jobs", "1")
    a = {f.relative_to(out): f.read_bytes() for f in out.rglob("*") if f.is_file()}
    b = {f.relative_to(again): f.read_bytes() for f in again.rglob("*") if f.is_file()}
    assert a.keys() == b.keys()
    # Data files and quarantine lists are byte-identical. The logs name their run: the
    # checkpoint holds a query id and batch times, the sink logs the files' URLs and times.
    logs = [k for k in a if k.parts[0] == "_checkpoint" or "_spark_metadata" in k.parts]
    assert len(logs) >= 7
    for k in a.keys() - set(logs):
        assert a[k] == b[k], f"{k} differs between runs"
    for k in logs:
        if "_spark_metadata" in k.parts:
            strip = lambda raw, root: [
                {**e, "path": e["path"].replace(root.as_uri(), ""), "modificationTime": 0}
                for e in map(json.loads, raw.decode().splitlines()[1:])
            ]
            assert strip(a[k], out) == strip(b[k], again), k
