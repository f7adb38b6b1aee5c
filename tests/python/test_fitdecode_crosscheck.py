"""Cross-check datamin's FIT decoding against fitdecode (an independent Python decoder).

For every FIT file in ../shared/data/fit:
- if fitdecode reads it in lenient mode (CRC mismatches and decode errors only warn), datamin
  must decode it (not quarantine it) with the same number of `record` rows, and sampled
  values (timestamp, position in degrees, heart rate, distance) must agree;
- if fitdecode cannot read it, datamin must quarantine it with a reason.
"""
import datetime as dt
import json
import warnings

import fitdecode
import pyarrow.parquet as pq
import pytest

SEMI = 180.0 / 2**31

# Differences that are the reference's fault, per file. Empty: none found so far.
KNOWN_DIFFERENCES = {}


def read_fitdecode(path):
    """(records, error): record dicts from fitdecode in lenient mode, or the error."""
    recs = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fitdecode.FitReader(
                str(path),
                check_crc=fitdecode.CrcCheck.WARN,
                error_handling=fitdecode.ErrorHandling.WARN,
            ) as fr:
                for frame in fr:
                    if isinstance(frame, fitdecode.FitDataMessage) and frame.name == "record":
                        def get(name):
                            if frame.has_field(name):
                                return frame.get_value(name, fallback=None)
                            return None
                        recs.append({
                            "timestamp": get("timestamp"),
                            "lat": get("position_lat"),
                            "long": get("position_long"),
                            "hr": get("heart_rate"),
                            "distance": get("distance"),
                        })
    except Exception as e:  # fitdecode raises its own FitError subclasses
        return None, f"{type(e).__name__}: {e}"
    return recs, None


def fit_files(shared):
    return sorted((shared / "fit").glob("*.fit"))


def test_every_readable_file_is_decoded_and_values_agree(identity_run, shared):
    out, summary, _ = identity_run
    table = pq.read_table(out / "records")
    df = {}
    cols = table.to_pydict()
    for i, src in enumerate(cols["source_file"]):
        df.setdefault(src.rsplit("/", 1)[-1], []).append(i)
    rejected = {r["file"].rsplit("/", 1)[-1]: r["reason"] for r in summary["rejected"]}
    checked = 0
    problems = []
    for path in fit_files(shared):
        name = path.name
        ref, err = read_fitdecode(path)
        if err is not None:
            assert name in rejected, f"{name}: fitdecode fails ({err}) but datamin did not quarantine it"
            assert rejected[name], f"{name}: quarantined without a reason"
            continue
        assert name not in rejected, f"{name}: fitdecode reads it but datamin quarantined it: {rejected.get(name)}"
        rows = df.get(name, [])
        if name in KNOWN_DIFFERENCES:
            continue
        if len(rows) != len(ref):
            problems.append(f"{name}: {len(rows)} records, fitdecode {len(ref)}")
            continue
        if not ref:
            continue
        step = max(1, len(ref) // 50)
        for j in list(range(0, len(ref), step)) + [len(ref) - 1]:
            r, i = ref[j], rows[j]
            ts = cols["timestamp"][i]
            if isinstance(r["timestamp"], int):
                # device-relative system time (FIT date_time < 0x10000000): datamin writes NULL
                if ts is not None:
                    problems.append(f"{name} record {j}: relative time {r['timestamp']} gave {ts}")
            elif r["timestamp"] is not None:
                want = r["timestamp"]
                if want.tzinfo is None:
                    want = want.replace(tzinfo=dt.timezone.utc)
                if ts != want:
                    problems.append(f"{name} record {j}: timestamp {ts} != {want}")
            for key, col in (("lat", "position_lat"), ("long", "position_long")):
                want = r[key] * SEMI if isinstance(r[key], int) else None
                got = cols[col][i]
                if (want is None) != (got is None) or (want is not None and abs(want - got) > 1e-9):
                    problems.append(f"{name} record {j}: {col} {got} != {want}")
            if r["hr"] is not None and cols["heart_rate_bpm"][i] != r["hr"]:
                problems.append(f"{name} record {j}: heart_rate {cols['heart_rate_bpm'][i]} != {r['hr']}")
            if r["distance"] is not None:
                got = cols["distance_m"][i]
                if got is None or abs(got - r["distance"]) > 1e-6:
                    problems.append(f"{name} record {j}: distance {got} != {r['distance']}")
        checked += 1
    assert not problems, "\n".join(problems[:40])
    assert checked >= 50, f"only {checked} files cross-checked"


def test_corrupt_by_design_files_are_quarantined(identity_run):
    _, summary, code = identity_run
    names = {r["file"].rsplit("/", 1)[-1]: r["reason"] for r in summary["rejected"]}
    for bad in [
        "fitparse__activity-settings-corruptheader.fit",
        "fitparse__activity-settings-nodata.fit",
        "fitparse__activity-unexpected-eof.fit",
        "fitparse__nick.fit",
        "fitparse__strava-android-app-201.10-b1218918.fit",
    ]:
        assert bad in names, f"{bad} not quarantined; quarantined: {sorted(names)}"
        assert len(names[bad]) > 10
    assert code == 1, "a run with quarantined files exits 1"
    lines = (identity_run[0] / "_rejected" / "part-00000.jsonl").read_text().splitlines()
    assert len(lines) == len(summary["rejected"])
    first = json.loads(lines[0])
    assert set(first) == {"file", "size", "sha256", "reason"}
    assert len(first["sha256"]) == 64
