"""Cross-check datamin's GPX decoding against gpxpy (an independent Python GPX parser).

`datamin run` minimizes every GPX file of ../shared/data/gpx (and a gzipped copy of one, and a
stray text file) with a policy that keeps every column; for each file the records must be,
point by point, what gpxpy reads: latitude, longitude, elevation, time, and the Garmin
TrackPointExtension heart rate where there is one. The points are gpxpy's track points, else
its route points, else its waypoints (datamin's documented rule, `decode/src/gpx.rs`).
"""
import datetime as dt
import gzip
import json

import gpxpy
import pyarrow.parquet as pq
import pytest

from conftest import datamin

STRAY = "notes.txt"
GZ_COPY = "gpxpy__Mojstrovka-copy.gpx.gz"


@pytest.fixture(scope="module")
def gpx_run(tmp_path_factory, shared):
    out = tmp_path_factory.mktemp("gpx")
    policy = out / "identity.toml"
    schemas = json.loads(datamin("schema", "--json").stdout)
    policy.write_text("\n".join(
        f"[tables.{t}]\nkeep = {json.dumps(cols)}\n" for t, cols in schemas.items()))
    inp = out / "input"
    inp.mkdir()
    for f in (shared / "gpx").glob("*.gpx"):
        (inp / f.name).symlink_to(f)
    (inp / GZ_COPY).write_bytes(gzip.compress((shared / "gpx" / "gpxpy__Mojstrovka.gpx").read_bytes()))
    (inp / STRAY).write_text("not an activity file")
    p = datamin("run", "--policy", policy, "--input", inp, "--output", out / "out", "--json")
    return out / "out", json.loads(p.stdout), p.returncode


def reference_points(path):
    """gpxpy's points of the file, by datamin's rule: tracks, else routes, else waypoints."""
    with open(path, encoding="utf-8-sig") as f:
        g = gpxpy.parse(f)
    tracks = [p for t in g.tracks for s in t.segments for p in s.points]
    routes = [p for r in g.routes for p in r.points]
    return g, tracks or routes or g.waypoints


def heart_rate(point):
    """TrackPointExtension `hr` (v1 or v2, any prefix), or None."""
    for ext in point.extensions:
        if ext.tag.rsplit("}", 1)[-1] != "TrackPointExtension":
            continue
        for child in ext:
            if child.tag.rsplit("}", 1)[-1] == "hr":
                return int(child.text)
    return None


def utc(t):
    if t is None:
        return None
    return t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t.astimezone(dt.timezone.utc)


def by_file(table):
    cols = table.to_pydict()
    rows = {}
    for i, src in enumerate(cols["source_file"]):
        rows.setdefault(src.rsplit("/", 1)[-1], []).append({k: v[i] for k, v in cols.items()})
    return rows


def test_every_point_agrees_with_gpxpy(gpx_run, shared):
    out, summary, code = gpx_run
    assert code == 0 and not summary["rejected"], summary["rejected"]
    records = by_file(pq.read_table(out / "records"))
    files = sorted((shared / "gpx").glob("*.gpx"))
    assert len(files) >= 9
    problems = []
    compared = hr_seen = 0
    for path in files:
        _, ref = reference_points(path)
        got = records.get(path.name, [])
        if len(got) != len(ref):
            problems.append(f"{path.name}: {len(got)} records, gpxpy {len(ref)} points")
            continue
        for j, (p, r) in enumerate(zip(ref, got)):
            want = {
                "position_lat": p.latitude,
                "position_long": p.longitude,
                "altitude_m": p.elevation,
                "timestamp": utc(p.time),
                "heart_rate_bpm": heart_rate(p),
            }
            for col, w in want.items():
                g = r[col]
                if col == "altitude_m" and w is not None and g is not None:
                    ok = abs(g - w) < 1e-9
                else:
                    ok = g == w
                if not ok:
                    problems.append(f"{path.name} point {j}: {col} {g!r} != gpxpy {w!r}")
            hr_seen += want["heart_rate_bpm"] is not None
            assert r["distance_m"] is None, "GPX has no distance: NULL"
            compared += 1
    assert not problems, "\n".join(problems[:40])
    assert compared > 1500 and hr_seen >= 1, (compared, hr_seen)


def test_gzipped_copy_equals_the_plain_file_and_stray_files_are_listed(gpx_run):
    out, summary, _ = gpx_run
    records = by_file(pq.read_table(out / "records"))
    plain, copy = records["gpxpy__Mojstrovka.gpx"], records[GZ_COPY]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "source_file"} for r in rows]
    assert strip(copy) == strip(plain), "same rows, same activity_id"
    assert [s.rsplit("/", 1)[-1] for s in summary["skipped"]] == [STRAY]
    assert summary["files_found"] == summary["files_decoded"] == 10


def test_activities_and_sessions_agree_with_gpxpy(gpx_run, shared):
    out, _, _ = gpx_run
    acts = {r["source_file"].rsplit("/", 1)[-1]: r for r in pq.read_table(out / "activities").to_pylist()}
    sessions = by_file(pq.read_table(out / "sessions"))
    for path in sorted((shared / "gpx").glob("*.gpx")):
        g, points = reference_points(path)
        a = acts[path.name]
        assert a["file_format"] == "gpx"
        assert a["record_count"] == len(points)
        assert a["time_created"] == utc(g.time), path.name
        assert a["product"] == g.creator, path.name
        groups = g.tracks if any(s.points for t in g.tracks for s in t.segments) else (
            g.routes if any(r.points for r in g.routes) else [])
        assert len(sessions.get(path.name, [])) == len(groups), path.name
        times = [utc(p.time) for p in points if p.time is not None]
        if groups and times and len(groups) == 1:
            s = sessions[path.name][0]
            assert (s["start_time"], s["end_time"]) == (times[0], times[-1]), path.name
