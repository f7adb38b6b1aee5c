"""Spark-compatible SQL: the same queries, run by Apache Spark (PySpark) over datamin's
Parquet output and by `datamin sql` over the same files, give the same results.

datamin sessions register datafusion-spark's functions and expression planner, so that
Spark's semantics hold for the functions Spark has (sha2, floor/ceil returning BIGINT,
substring, concat_ws, hour, …). README.md lists where the dialects still differ; the queries
below avoid those differences (explicit NULLS FIRST/LAST, no timestamp-to-string casts).
"""
import json
import math

from conftest import datamin

TABLES = ("records", "sessions", "activities")

QUERIES = [
    # the README's examples
    "SELECT count(*) AS n, avg(heart_rate_bpm) AS hr FROM records",
    "SELECT sport, count(*) AS n FROM sessions GROUP BY sport ORDER BY sport NULLS FIRST",
    # a dozen more over the minimized tables
    "SELECT count(DISTINCT activity_id) AS n FROM records",
    "SELECT sha2(activity_id, 256) AS h FROM activities ORDER BY h LIMIT 3",
    "SELECT hour(timestamp) AS h, count(*) AS n FROM records GROUP BY hour(timestamp) ORDER BY h",
    "SELECT substring(activity_id, 1, 8) AS p, count(*) AS n FROM records "
    "GROUP BY substring(activity_id, 1, 8) ORDER BY n DESC, p LIMIT 5",
    "SELECT concat_ws('/', sport, user_gender) AS k, count(*) AS n FROM activities "
    "GROUP BY concat_ws('/', sport, user_gender) ORDER BY k",
    "SELECT user_age_years AS band, count(*) AS n FROM activities GROUP BY user_age_years "
    "ORDER BY band NULLS FIRST",
    "SELECT activity_id AS a, round(max(distance_m) / 1000, 2) AS km FROM records "
    "GROUP BY activity_id ORDER BY km DESC NULLS LAST, a LIMIT 5",
    "SELECT s.sport AS sport, count(*) AS n FROM records r JOIN sessions s ON r.activity_id = s.activity_id "
    "GROUP BY s.sport ORDER BY n DESC, sport",
    "SELECT floor(speed_m_s) AS v, count(*) AS n FROM records WHERE speed_m_s IS NOT NULL "
    "GROUP BY floor(speed_m_s) ORDER BY v LIMIT 10",
    "SELECT ceil(total_distance_m / 1000) AS km, count(*) AS n FROM sessions "
    "WHERE total_distance_m IS NOT NULL GROUP BY ceil(total_distance_m / 1000) ORDER BY km",
    "SELECT upper(manufacturer) AS m, length(manufacturer) AS l, count(*) AS n FROM activities "
    "WHERE manufacturer IS NOT NULL GROUP BY manufacturer ORDER BY m",
    "SELECT position_lat AS la, position_long AS lo, count(*) AS n FROM records "
    "WHERE position_lat IS NOT NULL GROUP BY position_lat, position_long ORDER BY n DESC, la, lo LIMIT 5",
    "SELECT max_heart_rate_bpm - avg_heart_rate_bpm AS d, count(*) AS n FROM sessions "
    "WHERE max_heart_rate_bpm IS NOT NULL GROUP BY max_heart_rate_bpm - avg_heart_rate_bpm "
    "ORDER BY d LIMIT 5",
    "SELECT round(sum(total_elapsed_time_s) / 3600, 3) AS h, min(total_distance_m) AS lo, "
    "max(total_distance_m) AS hi FROM sessions",
]


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def test_spark_and_datamin_sql_agree(research_run, spark):
    out, _, _ = research_run
    for t in TABLES:
        spark.read.parquet(str(out / t)).createOrReplaceTempView(t)
    ddl = "".join(
        f"CREATE EXTERNAL TABLE {t} STORED AS PARQUET LOCATION '{out / t}/';" for t in TABLES
    )
    for q in QUERIES:
        want = [r.asDict() for r in spark.sql(q).collect()]
        p = datamin("sql", "--format", "json", ddl + q)
        assert p.returncode == 0, f"{q}\n{p.stderr}"
        got = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
        assert len(got) == len(want), f"{q}\nspark: {want}\ndatamin: {got}"
        assert want, f"{q}: no rows, the comparison would be vacuous"
        for w, g in zip(want, got):
            for col, v in w.items():
                assert same(v, g.get(col)), f"{q}\ncolumn {col}: spark {v!r}, datamin {g.get(col)!r}\n{w}\n{g}"
