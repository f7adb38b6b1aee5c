//! GPX decoding and transparent gzip, on the real files of `../shared/data` (read in place):
//! values checked by hand against the documents' text, gzipped files against their plain
//! originals, and `datamin run` over a folder mixing gzipped, plain and stray files.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datamin::format::{ActivityFormat, DecodeError, decode, decompressed_limit};
use datamin::minimizer::Minimizer;
use datamin::policy::Policy;
use datamin::runner::{RunOptions, run};

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(shared(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn gpx(name: &str) -> datamin::format::Activity {
    decode(ActivityFormat::Gpx, name, &read(&format!("gpx/{name}"))).unwrap()
}

/// µs since the epoch of an RFC 3339 time.
fn us(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .unwrap()
        .timestamp_micros()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn gpx_1_1_track_values_are_those_of_the_text() {
    // eTrex 20x, GPX 1.1: <metadata><time>2020-12-18T06:24:32Z</time>, one trk of 104 trkpt,
    // the first <trkpt lat="45.2735188510" lon="13.7142099626"><ele>211.15</ele>
    // <time>2020-12-18T06:15:50Z</time>
    let a = gpx("gpxpy__around-visnjan-with-car.gpx");
    assert_eq!(a.file_format, "gpx");
    assert_eq!(a.records.len(), 104);
    let r = &a.records[0];
    assert_eq!(r.position_lat, Some(45.2735188510));
    assert_eq!(r.position_long, Some(13.7142099626));
    assert_eq!(r.altitude_m, Some(211.15));
    assert_eq!(r.timestamp_us, Some(us("2020-12-18T06:15:50Z")));
    assert_eq!((r.distance_m, r.heart_rate_bpm), (None, None));
    assert_eq!(a.records[1].timestamp_us, Some(us("2020-12-18T06:16:00Z")));
    assert_eq!(a.info.time_created_us, Some(us("2020-12-18T06:24:32Z")));
    assert_eq!(a.info.product.as_deref(), Some("eTrex 20x"));
    assert_eq!(a.info.file_type.as_deref(), Some("activity"));
    assert!(a.laps.is_empty());
    assert_eq!(a.sessions.len(), 1);
    let s = &a.sessions[0];
    assert_eq!(s.start_time_us, a.records[0].timestamp_us);
    assert_eq!(s.end_time_us, a.records[103].timestamp_us);
    assert_eq!(s.start_position_lat, Some(45.2735188510));
    assert_eq!(s.total_distance_m, None, "GPX has no distance");
    let lats: Vec<f64> = a.records.iter().filter_map(|r| r.position_lat).collect();
    assert_eq!(s.nec_lat, lats.iter().copied().reduce(f64::max));
    assert_eq!(s.swc_lat, lats.iter().copied().reduce(f64::min));
}

#[test]
fn gpx_1_0_tracks_are_one_session_each() {
    // GPSBabel, GPX 1.0: <time> directly under <gpx>; 8 trk with 296 trkpt in all
    let a = gpx("gpxpy__cerknicko-jezero.gpx");
    assert_eq!((a.records.len(), a.sessions.len()), (296, 8));
    assert_eq!(a.message_counts["trk"], 8);
    assert!(a.info.time_created_us.is_some());
    // Mojstrovka: the first <trkpt lat="46.434981000" lon="13.748273000">
    // <ele>1614.678000</ele><time>1901-12-13T20:45:52.2073437Z</time> (100 ns: µs truncate)
    let a = gpx("gpxpy__Mojstrovka.gpx");
    assert_eq!(a.records.len(), 184);
    let r = &a.records[0];
    assert_eq!(
        (r.position_lat, r.position_long),
        (Some(46.434981), Some(13.748273))
    );
    assert_eq!(r.altitude_m, Some(1614.678));
    assert_eq!(r.timestamp_us, Some(us("1901-12-13T20:45:52.207343Z")));
    assert_eq!(a.info.time_created_us, Some(us("2010-12-14T06:17:04Z")));
    assert_eq!(
        a.info.product.as_deref(),
        Some("GPSBabel - http://www.gpsbabel.org")
    );
}

#[test]
fn garmin_track_point_extension_heart_rate() {
    // Runkeeper: one <wpt lat="37.778259000" lon="-122.391386000"> with <ele>3.4</ele>,
    // <time>2016-06-17T23:41:03Z</time> and <gpxtpx:hr>171</gpxtpx:hr>; no track, no route:
    // the waypoint is the record
    let a = gpx("gpxpy__gpx_with_garmin_extension.gpx");
    assert_eq!(a.records.len(), 1);
    let r = &a.records[0];
    assert_eq!(r.heart_rate_bpm, Some(171));
    assert_eq!(
        (r.position_lat, r.position_long),
        (Some(37.778259), Some(-122.391386))
    );
    assert_eq!(r.altitude_m, Some(3.4));
    assert_eq!(r.timestamp_us, Some(us("2016-06-17T23:41:03Z")));
    assert!(a.sessions.is_empty(), "waypoints make no session");
    assert_eq!(a.info.file_type.as_deref(), Some("waypoints"));
}

#[test]
fn byte_order_mark_empty_segments_routes_and_every_field() {
    // UTF-8 BOM, no version: <wpt lat="43.309634" lon="3.515386"><ele>-14.6</ele>
    // <time>2016-05-27T10:08:47.8Z</time>
    let a = gpx("gpxpy__unicode_with_bom.gpx");
    assert_eq!(a.records.len(), 1);
    let r = &a.records[0];
    assert_eq!(
        (r.position_lat, r.position_long),
        (Some(43.309634), Some(3.515386))
    );
    assert_eq!(r.altitude_m, Some(-14.6));
    assert_eq!(r.timestamp_us, Some(us("2016-05-27T10:08:47.800Z")));

    // one trk, a segment of 9 points then an empty <trkseg></trkseg>
    let a = gpx("gpxpy__track-with-empty-segment.gpx");
    assert_eq!((a.records.len(), a.sessions.len()), (9, 1));
    assert_eq!(a.message_counts["trkseg"], 2);
    let s = &a.sessions[0];
    assert_eq!(s.start_time_us, Some(us("2013-07-06T17:26:26Z")));
    assert_eq!(s.end_time_us, Some(us("2013-07-06T17:27:42Z")));
    assert_eq!(s.total_elapsed_time_s, Some(76.0));
    assert_eq!(
        (s.end_position_lat, s.end_position_long),
        (Some(50.7776715), Some(6.0827203))
    );

    // 2 wpt, 2 rte (5 rtept), 2 trk (1 trkpt; the second trk empty): the track point only
    let a = gpx("gpxpy__gpx1.1_with_all_fields.gpx");
    assert_eq!(a.records.len(), 1);
    let r = &a.records[0];
    assert_eq!((r.position_lat, r.position_long), (Some(10.1), Some(-20.2)));
    assert_eq!(r.altitude_m, Some(11.1));
    // <time>2013-01-01T12:00:04</time>, no offset: UTC
    assert_eq!(r.timestamp_us, Some(us("2013-01-01T12:00:04Z")));
    assert_eq!(a.sessions.len(), 2);
    assert_eq!(a.sessions[0].sport.as_deref(), Some("t"));
    assert_eq!(a.sessions[1].start_time_us, None);
    assert_eq!(a.info.time_created_us, Some(us("2013-01-01T12:00:00Z")));
    assert_eq!(a.info.product.as_deref(), Some("..."));

    // a route only: 55 rtept, one session, no times
    let a = gpx("gpxpy__route.gpx");
    assert_eq!((a.records.len(), a.sessions.len()), (55, 1));
    assert_eq!(a.records[0].position_lat, Some(45.2787641494));
    assert_eq!(a.info.file_type.as_deref(), Some("course"));
    assert!(a.records.iter().all(|r| r.timestamp_us.is_none()));
}

#[test]
fn every_shared_gpx_file_decodes_and_malformed_ones_name_the_byte() {
    let mut n = 0;
    for e in std::fs::read_dir(shared("gpx")).unwrap() {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        let a = decode(ActivityFormat::Gpx, "x.gpx", &bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(!a.records.is_empty(), "{}", p.display());
        a.to_batches().unwrap();
        n += 1;
        // every prefix cut inside the root element is an error, never a panic
        let cut = bytes.len() / 2;
        match decode(ActivityFormat::Gpx, "x.gpx", &bytes[..cut]) {
            Err(DecodeError::Gpx { offset, .. }) => assert!(offset <= cut),
            other => panic!("{}: cut at {cut}: {other:?}", p.display()),
        }
    }
    assert!(n >= 9, "{n} GPX files");
    let e = decode(ActivityFormat::Gpx, "x.gpx", b"<gpx><trk></wpt></gpx>").unwrap_err();
    assert!(
        matches!(e, DecodeError::Gpx { offset: 10, .. }),
        "the mismatched end tag starts at byte 10: {e}"
    );
}

/// The batches of `bytes` decoded as `format` under one name.
fn batches(format: ActivityFormat, bytes: &[u8]) -> [RecordBatch; 4] {
    decode(format, "same-name", bytes)
        .unwrap()
        .to_batches()
        .unwrap()
}

#[test]
fn gzipped_files_decode_to_exactly_the_batches_of_the_plain_file() {
    for (format, rel) in [
        (ActivityFormat::Fit, "fit/fitparse__2013-02-06-12-11-14.fit"),
        (ActivityFormat::Tcx, "tcx/tcxparser__sup_activity_1.tcx"),
        (ActivityFormat::Gpx, "gpx/gpxpy__Mojstrovka.gpx"),
    ] {
        let plain = read(rel);
        let gz = gzip(&plain);
        assert!(gz.len() < plain.len());
        // the same batches, activity_id included (over the decompressed bytes)
        assert_eq!(batches(format, &gz), batches(format, &plain), "{rel}");
        assert!(batches(format, &plain)[0].num_rows() > 0);
        // concatenated gzip members are one stream, as for `gzip -d`
        let half = plain.len() / 2;
        let mut two = gzip(&plain[..half]);
        two.extend(gzip(&plain[half..]));
        assert_eq!(batches(format, &two), batches(format, &plain), "{rel}");
    }
    for (name, format) in [
        ("a.fit.gz", Some(ActivityFormat::Fit)),
        ("s3://b/x/A.TCX.GZ", Some(ActivityFormat::Tcx)),
        ("a.gpx.Gz", Some(ActivityFormat::Gpx)),
        ("a.gpx", Some(ActivityFormat::Gpx)),
        ("a.gz", None),
        ("a.txt.gz", None),
        ("a.fit.gz.bak", None),
    ] {
        assert_eq!(ActivityFormat::from_path(name), format, "{name}");
    }
}

#[test]
fn corrupt_truncated_and_bomb_gzip_are_decode_errors() {
    let gz = gzip(&read("fit/fitparse__2013-02-06-12-11-14.fit"));
    let truncated = &gz[..gz.len() / 2];
    let e = decode(ActivityFormat::Fit, "t.fit.gz", truncated).unwrap_err();
    assert!(matches!(e, DecodeError::Gzip { .. }), "{e:?}");
    assert!(e.to_string().contains("truncated"), "{e}");
    // a flipped byte in the deflate data or the CRC
    let mut bad = gz.clone();
    let n = bad.len();
    bad[n - 6] ^= 0xff;
    let e = decode(ActivityFormat::Fit, "t.fit.gz", &bad).unwrap_err();
    assert!(e.to_string().starts_with("corrupt gzip file: "), "{e}");
    // 17 MiB of zeros compress to ~17 kB: above the floor and 200× the size
    let zeros = gzip(&vec![0u8; 17 << 20]);
    assert!(decompressed_limit(zeros.len()) == 16 << 20);
    let e = decode(ActivityFormat::Gpx, "bomb.gpx.gz", &zeros).unwrap_err();
    assert!(e.to_string().contains("gzip bomb"), "{e}");
}

const IDENTITY: &str = r#"
[tables.records]
keep = ["activity_id", "source_file", "timestamp", "position_lat", "heart_rate_bpm"]
[tables.activities]
keep = ["activity_id", "source_file", "file_format", "record_count"]
"#;

fn read_parquet_dir(dir: &Path) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "parquet") {
            let f = std::fs::File::open(&p).unwrap();
            let r =
                datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                    f,
                )
                .unwrap()
                .build()
                .unwrap();
            out.extend(r.map(|b| b.unwrap()));
        }
    }
    out
}

#[tokio::test]
async fn run_decodes_gzipped_and_gpx_files_and_lists_stray_files_as_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(input.join("sub")).unwrap();
    let fit = read("fit/fitparse__2013-02-06-12-11-14.fit");
    std::fs::write(input.join("a.fit.gz"), gzip(&fit)).unwrap();
    // a .fit that is really gzip: recognized by its magic bytes
    std::fs::write(input.join("sub/disguised.fit"), gzip(&fit)).unwrap();
    let tcx = read("tcx/tcxparser__sup_activity_1.tcx");
    std::fs::write(input.join("b.tcx.gz"), gzip(&tcx)).unwrap();
    std::fs::write(
        input.join("c.gpx"),
        read("gpx/gpxpy__around-visnjan-with-car.gpx"),
    )
    .unwrap();
    let gz = gzip(&tcx);
    std::fs::write(input.join("truncated.tcx.gz"), &gz[..gz.len() - 100]).unwrap();
    std::fs::write(input.join("notes.txt"), "not an activity").unwrap();
    std::fs::write(input.join("sub/archive.zip"), "PK").unwrap();

    let m = Minimizer::new(Policy::parse("inline", IDENTITY).unwrap(), None).unwrap();
    let out = dir.path().join("out");
    let s = run(
        &m,
        &RunOptions {
            input: input.to_string_lossy().into_owned(),
            output: out.to_string_lossy().into_owned(),
            jobs: 2,
            ..RunOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((s.files_found, s.files_decoded), (5, 4));
    assert_eq!(s.rejected.len(), 1);
    let q = &s.rejected[0];
    assert!(q.file.ends_with("/truncated.tcx.gz"), "{}", q.file);
    assert!(q.reason.starts_with("corrupt gzip file:"), "{}", q.reason);
    assert_eq!(q.size, gz.len() as u64 - 100, "the size as stored");
    let skipped: Vec<&str> = s
        .skipped
        .iter()
        .map(|u| u.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(skipped, ["notes.txt", "archive.zip"]);
    let text = s.render();
    assert!(
        text.contains("5 files, 4 decoded, 1 quarantined, 2 skipped;"),
        "{text}"
    );
    assert!(
        text.contains("notes.txt: not a .fit, .tcx or .gpx file (optionally .gz)"),
        "{text}"
    );
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["skipped"].as_array().unwrap().len(), 2);

    // the gzipped FIT and the disguised one are the same activity: one id, same rows
    let acts = read_parquet_dir(&out.join("activities"));
    let mut rows: Vec<(String, String, i64)> = Vec::new();
    for b in &acts {
        for i in 0..b.num_rows() {
            let col = |n: &str| b.column_by_name(n).unwrap().clone();
            rows.push((
                col("source_file").as_string::<i32>().value(i).to_string(),
                col("file_format").as_string::<i32>().value(i).to_string(),
                col("record_count").as_primitive::<Int64Type>().value(i),
            ));
        }
    }
    rows.sort();
    let fmt: Vec<(&str, &str, i64)> = rows
        .iter()
        .map(|(f, k, n)| (f.rsplit('/').next().unwrap(), k.as_str(), *n))
        .collect();
    let plain_fit = decode(ActivityFormat::Fit, "x", &fit).unwrap();
    let n_fit = plain_fit.records.len() as i64;
    assert_eq!(
        fmt,
        [
            ("a.fit.gz", "fit", n_fit),
            ("b.tcx.gz", "tcx", 111),
            ("c.gpx", "gpx", 104),
            ("disguised.fit", "fit", n_fit),
        ]
    );
    let ids: std::collections::BTreeSet<String> = acts
        .iter()
        .flat_map(|b| {
            let c = b.column_by_name("activity_id").unwrap().as_string::<i32>();
            (0..c.len())
                .map(|i| c.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(ids.len(), 3, "a.fit.gz and disguised.fit share an id");
    assert!(ids.contains(&plain_fit.activity_id));

    // a second run: nothing new, the stray files are still reported
    let again = run(
        &m,
        &RunOptions {
            input: input.to_string_lossy().into_owned(),
            output: out.to_string_lossy().into_owned(),
            ..RunOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(again.batches.is_empty());
    assert_eq!(again.skipped.len(), 2);
    assert!(again.render().contains("skipped "), "{}", again.render());
}

#[tokio::test]
async fn a_gpx_file_outside_a_subject_folder_is_zoned_alone_and_the_summary_says_so() {
    // GPX names no device: without a subject=<id> folder the file is its own subject, so its
    // displacement is not shared with the person's other files
    let policy = "[privacy_zone]\n[tables.records]\nkeep = [\"timestamp\", \"position_lat\"]\n";
    let key =
        datamin::udfs::PseudonymKey::new("t", b"gpx-zone-test-key-0123456789".to_vec()).unwrap();
    let m = Minimizer::new(Policy::parse("inline", policy).unwrap(), Some(key)).unwrap();
    for (folder, unknown) in [("plain", 1), ("subject=s1", 0)] {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in").join(folder);
        std::fs::create_dir_all(&input).unwrap();
        std::fs::write(
            input.join("c.gpx"),
            read("gpx/gpxpy__around-visnjan-with-car.gpx"),
        )
        .unwrap();
        let s = run(
            &m,
            &RunOptions {
                input: dir.path().join("in").to_string_lossy().into_owned(),
                output: dir.path().join("out").to_string_lossy().into_owned(),
                ..RunOptions::default()
            },
        )
        .await
        .unwrap();
        let z = s.privacy_zone.unwrap();
        assert_eq!(z.activities_without_subject, unknown, "{folder}");
        assert_eq!(
            s.render().contains("1 activities without a subject"),
            unknown == 1,
            "{}",
            s.render()
        );
    }
}

async fn sql(ctx: &datafusion::prelude::SessionContext, q: &str) -> Vec<RecordBatch> {
    datamin::sql::run_script(ctx, q)
        .await
        .unwrap_or_else(|e| panic!("{q}: {e}"))
        .pop()
        .unwrap()
}

/// The first row of `b` as text.
fn row(b: &[RecordBatch]) -> Vec<String> {
    let opts = datafusion::arrow::util::display::FormatOptions::default();
    b[0].columns()
        .iter()
        .map(|c| {
            datafusion::arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &opts)
                .unwrap()
                .value(0)
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn stored_as_reads_gzipped_files_of_folders_on_every_store() {
    use datafusion::object_store::{ObjectStore, ObjectStoreExt, PutPayload, memory::InMemory};
    let fit = read("fit/fitparse__2013-02-06-12-11-14.fit");
    let n_fit = decode(ActivityFormat::Fit, "x", &fit)
        .unwrap()
        .records
        .len();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("subject=a/x.fit", fit.clone()),
        ("subject=b/y.FIT.GZ", gzip(&fit)),
        ("subject=b/z.gpx.gz", gzip(&read("gpx/gpxpy__route.gpx"))),
        (
            "subject=a/w.GPX",
            read("gpx/gpxpy__track-with-empty-segment.gpx"),
        ),
        (
            "subject=a/v.tcx.gz",
            gzip(&read("tcx/tcxparser__sup_activity_1.tcx")),
        ),
        ("subject=a/notes.fit.json", b"{}".to_vec()),
        ("subject=a/old.gz", b"\x1f\x8bnot gzip".to_vec()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(InMemory::new());
    for (rel, bytes) in &files {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
        store
            .put(
                &datafusion::object_store::path::Path::from(format!("in/{rel}")),
                PutPayload::from(bytes.clone()),
            )
            .await
            .unwrap();
    }
    let ctx = datamin::context::session_context(None, 2);
    ctx.register_object_store(
        &url::Url::parse("mem://bucket").unwrap(),
        store as Arc<dyn ObjectStore>,
    );
    let local = dir.path().display();
    for loc in [format!("{local}/"), "mem://bucket/in/".to_string()] {
        // on_error = fail: a stray or undecodable file would fail the query
        sql(
            &ctx,
            &format!(
                "DROP TABLE IF EXISTS f; DROP TABLE IF EXISTS g;
                 CREATE EXTERNAL TABLE f STORED AS FIT LOCATION '{loc}';
                 CREATE EXTERNAL TABLE g STORED AS GPX LOCATION '{loc}'"
            ),
        )
        .await;
        let b = sql(
            &ctx,
            "SELECT count(*), count(DISTINCT activity_id), count(DISTINCT subject) FROM f",
        )
        .await;
        assert_eq!(
            row(&b),
            [(2 * n_fit).to_string(), "1".into(), "2".into()],
            "{loc}"
        );
        let b = sql(
            &ctx,
            "SELECT count(*), count(timestamp), count(DISTINCT source_file) FROM g",
        )
        .await;
        assert_eq!(
            row(&b),
            ["64", "9", "2"],
            "{loc}: 55 route + 9 track points"
        );
    }
    // mixed: every format, gzipped or not, by extension; other files ignored
    let spec: datamin::sql::TableSpec = format!("acts:file_id={local}").parse().unwrap();
    datamin::sql::register_table(&ctx, &spec).await.unwrap();
    let b = sql(
        &ctx,
        "SELECT string_agg(file_format || ':' || record_count, ',' ORDER BY source_file) FROM acts",
    )
    .await;
    assert_eq!(
        row(&b),
        [format!("tcx:111,gpx:9,fit:{n_fit},fit:{n_fit},gpx:55")]
    );
}
