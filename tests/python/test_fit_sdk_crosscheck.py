"""datamin's FIT decoder against Garmin's own: the FIT SDK for Python (garmin-fit-sdk).

- The profile tables datamin decodes with (decode/src/fit/profile/) are exactly what
  scripts/gen_fit_profile.py generates from the installed SDK's profile.
- For every shared FIT file the SDK reads without errors, datamin's `records` agree with the
  SDK's `record` messages value by value: time, position (degrees), altitude, speed (the
  SDK's enhanced_* fields, which its component expansion fills from altitude/speed),
  distance, heart rate, cadence, power, temperature.
"""
import datetime as dt
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

garmin = pytest.importorskip("garmin_fit_sdk")

ROOT = Path(__file__).resolve().parents[2]
SEMI = 180.0 / 2**31
# Invalid values by FIT base type id (FIT protocol, "Base Types"); floats: NaN.
INVALID = {0: 0xFF, 1: 0x7F, 2: 0xFF, 131: 0x7FFF, 132: 0xFFFF, 133: 0x7FFFFFFF,
           134: 0xFFFFFFFF, 10: 0, 139: 0, 140: 0, 13: 0xFF}
# Files above this size are left out to keep the (pure Python) SDK's time in CI short.
MAX_BYTES = 1_500_000


def test_generated_profile_is_up_to_date(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "scripts/gen_fit_profile.py"), str(tmp_path)], check=True)
    for name in ("mod.rs", "names.rs"):
        committed = (ROOT / "decode/src/fit/profile" / name).read_text()
        assert (tmp_path / name).read_text() == committed, (
            f"decode/src/fit/profile/{name} differs from scripts/gen_fit_profile.py's output")


def sdk_records(path):
    """The SDK's record messages, or None when it reports errors."""
    stream = garmin.Stream.from_file(str(path))
    decoder = garmin.Decoder(stream)
    # merge_heart_rates=False: the SDK would otherwise copy `hr` messages into records
    messages, errors = decoder.read(convert_datetimes_to_dates=False, merge_heart_rates=False)
    if errors:
        return None
    return messages.get("record_mesgs", [])


def close(a, b, tol=1e-6):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tol * max(1.0, abs(b))


def test_records_agree_with_the_fit_sdk(identity_run, shared):
    out, _, _ = identity_run
    cols = pq.read_table(out / "records").to_pydict()
    rows = {}
    for i, src in enumerate(cols["source_file"]):
        rows.setdefault(src.rsplit("/", 1)[-1], []).append(i)
    problems, checked, values = [], 0, 0
    for path in sorted((shared / "fit").glob("*.fit")):
        if path.stat().st_size > MAX_BYTES:
            continue
        ref = sdk_records(path)
        if ref is None:
            continue
        mine = rows.get(path.name, [])
        if len(mine) != len(ref):
            problems.append(f"{path.name}: {len(mine)} records, SDK {len(ref)}")
            continue
        for j, (r, i) in enumerate(zip(ref, mine)):
            t = r.get("timestamp")
            if isinstance(t, int) and t >= 0x10000000:
                want = dt.datetime(1989, 12, 31, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=t)
                if cols["timestamp"][i] != want:
                    problems.append(f"{path.name}[{j}] timestamp {cols['timestamp'][i]} != {want}")
            pairs = [
                ("position_lat", r.get("position_lat") * SEMI if r.get("position_lat") is not None else None),
                ("position_long", r.get("position_long") * SEMI if r.get("position_long") is not None else None),
                ("altitude_m", r.get("enhanced_altitude", r.get("altitude"))),
                ("speed_m_s", r.get("enhanced_speed", r.get("speed"))),
                ("distance_m", r.get("distance")),
                ("heart_rate_bpm", r.get("heart_rate")),
                ("cadence_rpm", r.get("cadence")),
                ("power_w", r.get("power")),
                ("temperature_c", r.get("temperature")),
            ]
            for col, want in pairs:
                if isinstance(want, list):  # an array value: datamin's column is NULL
                    want = None
                got = cols[col][i]
                if not close(got, want):
                    problems.append(f"{path.name}[{j}] {col}: datamin {got}, SDK {want}")
                values += 1
        checked += 1
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:30])
    assert checked >= 40, f"only {checked} files checked"
    print(f"{checked} files, {values} values equal to the FIT SDK's")


def test_developer_fields_agree_with_the_fit_sdk(identity_run, shared):
    """records.developer_fields: each record's (name, units, value) equal the SDK's developer
    fields with their field_description (text and array values are NULL in datamin)."""
    out, _, _ = identity_run
    cols = pq.read_table(out / "records", columns=["source_file", "developer_fields"]).to_pydict()
    rows = {}
    for i, src in enumerate(cols["source_file"]):
        rows.setdefault(src.rsplit("/", 1)[-1], []).append(cols["developer_fields"][i])
    checked, values, problems = 0, 0, []
    for path in sorted((shared / "fit").glob("*.fit")):
        if path.stat().st_size > MAX_BYTES:
            continue
        stream = garmin.Stream.from_file(str(path))
        messages, errors = garmin.Decoder(stream).read(merge_heart_rates=False)
        descs = messages.get("field_description_mesgs", [])
        recs = messages.get("record_mesgs", [])
        if errors or not descs or not any(r.get("developer_fields") for r in recs):
            continue
        mine = rows.get(path.name, [])
        assert len(mine) == len(recs), path.name
        for j, (r, got) in enumerate(zip(recs, mine)):
            want = []
            for key, v in (r.get("developer_fields") or {}).items():
                d = descs[key]
                name = d.get("field_name")
                if isinstance(name, list):
                    name = name[0]
                if name is None:
                    name = f"developer_{d['developer_data_index']}_{d['field_definition_number']}"
                units = d.get("units")
                if isinstance(units, list):
                    units = units[0]
                value = v if isinstance(v, (int, float)) and not isinstance(v, bool) else None
                # the SDK keeps a developer field's invalid value (the base type's sentinel,
                # FIT protocol "Base Types"); datamin reads it as NULL, as for every field
                if value is not None and (value != value or value == INVALID.get(d.get("fit_base_type_id"))):
                    value = None
                want.append((name, units, value))
            have = [(x["name"], x["units"], x["value"]) for x in (got or [])]
            if sorted(have, key=str) != sorted(want, key=str):
                problems.append(f"{path.name}[{j}]: datamin {have}, SDK {want}")
            values += len(want)
        checked += 1
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:20])
    assert checked >= 4, f"only {checked} files with developer fields checked"
    print(f"{checked} files, {values} developer field values equal to the FIT SDK's")
