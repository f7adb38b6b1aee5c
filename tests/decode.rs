//! Decoding real files: values cross-checked against fitdecode 0.11 (FIT) and the TCX text.

use datafusion::arrow::array::{Array, AsArray, Float64Array};
use datafusion::arrow::datatypes::{Float64Type, Int16Type, TimestampMicrosecondType};
use datamin::format::{ActivityFormat, DecodeError, decode, fit_crc};
use datamin::schema::{DEGREES_PER_SEMICIRCLE, Table};

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// 2012-04-09T21:22:26Z in µs.
const T0: i64 = 1_334_006_546_000_000;

#[test]
fn fit_activity_records_match_fitdecode() {
    let a = decode(
        ActivityFormat::Fit,
        "Activity.fit",
        &read("fitparse__Activity.fit"),
    )
    .unwrap();
    assert_eq!(a.records.len(), 14);
    let b = a.to_batch(Table::Records).unwrap();
    let ts = b
        .column_by_name("timestamp")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    assert_eq!(ts.value(0), T0);
    assert_eq!(ts.value(1), T0 + 1_000_000);
    let lat = b
        .column_by_name("position_lat")
        .unwrap()
        .as_primitive::<Float64Type>();
    let lon = b
        .column_by_name("position_long")
        .unwrap()
        .as_primitive::<Float64Type>();
    // fitdecode: position_lat 495280430, position_long -872696681 semicircles
    assert!((lat.value(0) - 495_280_430.0 * DEGREES_PER_SEMICIRCLE).abs() < 1e-12);
    assert!((lon.value(0) - -872_696_681.0 * DEGREES_PER_SEMICIRCLE).abs() < 1e-12);
    assert!((lat.value(0) - 41.513926).abs() < 1e-5, "{}", lat.value(0));
    let dist = b
        .column_by_name("distance_m")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert!((dist.value(0) - 0.02).abs() < 1e-9);
    let alt = b
        .column_by_name("altitude_m")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert!((alt.value(0) - 278.2).abs() < 1e-9);
    // no heart rate in this file
    assert_eq!(b.column_by_name("heart_rate_bpm").unwrap().null_count(), 14);
    // timestamps are UTC microseconds
    assert_eq!(
        b.schema()
            .field_with_name("timestamp")
            .unwrap()
            .data_type()
            .to_string(),
        "Timestamp(µs, \"UTC\")"
    );
    let s = &a.sessions[0];
    assert_eq!(s.sport.as_deref(), Some("running"));
    assert_eq!(s.total_distance_m, Some(5.73));
    assert_eq!(s.total_elapsed_time_s, Some(13.749));
    assert_eq!(a.info.manufacturer.as_deref(), Some("dynastream"));
    assert_eq!(a.info.product.as_deref(), Some("hrm1"));
    assert_eq!(a.info.serial_number, Some(2_147_483_647));
    assert_eq!(a.info.time_created_us, Some(T0));
}

#[test]
fn fit_user_profile_and_session_match_fitdecode() {
    let a = decode(
        ActivityFormat::Fit,
        "f5.fit",
        &read("fitparse__garmin-fenix-5-run.fit"),
    )
    .unwrap();
    assert_eq!(a.records.len(), 21);
    let r0 = &a.records[0];
    assert_eq!(r0.heart_rate_bpm, Some(61));
    assert_eq!(r0.temperature_c, Some(25));
    assert_eq!(a.info.serial_number, Some(3_945_849_289));
    assert_eq!(a.info.product.as_deref(), Some("fenix5"));
    assert_eq!(a.info.user_gender.as_deref(), Some("male"));
    assert_eq!(a.info.user_weight_kg, Some(68.0));
    assert_eq!(a.info.user_height_m, Some(1.75));
    assert_eq!(a.info.user_resting_heart_rate_bpm, Some(47));
    let s = &a.sessions[0];
    assert_eq!(s.avg_heart_rate_bpm, Some(90));
    assert_eq!(s.max_heart_rate_bpm, Some(112));
    assert_eq!(s.total_distance_m, Some(157.56));
    assert_eq!(s.total_ascent_m, Some(2.0));
    assert_eq!(s.avg_speed_m_s, Some(2.77));
    let nec = 456_099_128.0 * DEGREES_PER_SEMICIRCLE;
    let swc_long = -1_463_087_093.0 * DEGREES_PER_SEMICIRCLE;
    assert_eq!(s.nec_lat, Some(nec));
    assert_eq!(s.swc_long, Some(swc_long));
    let batch = a.to_batch(Table::Activities).unwrap();
    assert_eq!(batch.num_rows(), 1);
    let w = batch
        .column_by_name("user_weight_kg")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    assert_eq!(w.value(0), 68.0);
}

#[test]
fn truncated_fit_is_an_error_with_offset() {
    let e = decode(
        ActivityFormat::Fit,
        "eof.fit",
        &read("fitparse__activity-unexpected-eof.fit"),
    )
    .unwrap_err();
    let DecodeError::Fit { offset, reason } = &e else {
        panic!("{e:?}")
    };
    assert!(*offset > 700, "{e}");
    assert!(
        reason.contains("truncated") || reason.contains("end of file"),
        "{e}"
    );
    // garbage and empty input are errors, never panics
    assert!(decode(ActivityFormat::Fit, "x", b"").is_err());
    assert!(decode(ActivityFormat::Fit, "x", &[0u8; 100]).is_err());
    assert!(decode(ActivityFormat::Tcx, "x", b"<not-tcx/>").is_err());
    assert!(
        decode(
            ActivityFormat::Tcx,
            "x",
            b"<TrainingCenterDatabase><Activities>"
        )
        .is_err()
    );
}

#[test]
fn every_prefix_of_a_fit_file_decodes_or_errors_without_panic() {
    let bytes = read("fitparse__garmin-fenix-5-run.fit");
    let (mut ok, mut errors) = (0, 0);
    for n in (0..bytes.len()).step_by(7) {
        // `decode` turns a decoder panic into `DecodeError::Panic`: that must never happen
        match decode(ActivityFormat::Fit, "p", &bytes[..n]) {
            Err(DecodeError::Panic { message, .. }) => {
                panic!("the decoder panicked on the first {n} bytes: {message}")
            }
            Err(DecodeError::Fit { offset, .. }) => {
                assert!(
                    offset <= n,
                    "error offset {offset} beyond the {n} bytes given"
                );
                errors += 1;
            }
            Err(e) => panic!("unexpected error on the first {n} bytes: {e}"),
            Ok(a) => {
                assert!(a.records.len() <= 21);
                ok += 1;
            }
        }
    }
    // almost every strict prefix lacks data the header announces (a few end cleanly
    // between messages, which lenient decoding accepts)
    assert!(
        errors >= 700 && ok + errors == 800,
        "{ok} decoded, {errors} errors"
    );
}

#[test]
fn tcx_values_match_the_document() {
    let a = decode(
        ActivityFormat::Tcx,
        "sup.tcx",
        &read("tcxparser__sup_activity_1.tcx"),
    )
    .unwrap();
    // counted in the file: 111 <Trackpoint>, 2 <Lap>
    assert_eq!(a.records.len(), 111);
    assert_eq!(a.laps.len(), 2);
    assert_eq!(a.sessions.len(), 1);
    assert_eq!(a.sessions[0].sport.as_deref(), Some("Other"));
    let b = a.to_batch(Table::Records).unwrap();
    let hr = b
        .column_by_name("heart_rate_bpm")
        .unwrap()
        .as_primitive::<Int16Type>();
    assert_eq!(hr.null_count(), 0);
    let text = String::from_utf8(read("tcxparser__sup_activity_1.tcx")).unwrap();
    // first trackpoint's values, read from the text
    let start = text.find("<Trackpoint>").unwrap();
    let first_tp = &text[start..start + text[start..].find("</Trackpoint>").unwrap()];
    let grab = |tag: &str| -> f64 {
        let s = &first_tp[first_tp.find(&format!("<{tag}>")).unwrap() + tag.len() + 2..];
        s[..s.find('<').unwrap()].trim().parse().unwrap()
    };
    assert_eq!(a.records[0].position_lat, Some(grab("LatitudeDegrees")));
    assert_eq!(a.records[0].position_long, Some(grab("LongitudeDegrees")));
    assert_eq!(a.records[0].distance_m, Some(grab("DistanceMeters")));
    assert_eq!(a.records[0].speed_m_s, Some(grab("ns3:Speed")));
    assert_eq!(
        a.records[0].altitude_m, None,
        "no AltitudeMeters in the first trackpoint"
    );
    assert_eq!(a.records[0].timestamp_us, Some(1_657_987_705_000_000)); // 2022-07-16T16:08:25Z
    assert_eq!(a.records[0].heart_rate_bpm, Some(grab("Value") as i16));
    assert!(
        a.info.serial_number.is_some(),
        "Creator/UnitId is the serial number"
    );
    let s = &a.sessions[0];
    assert!(s.nec_lat.unwrap() >= s.swc_lat.unwrap());
    assert_eq!(
        s.total_distance_m,
        Some(a.laps.iter().filter_map(|l| l.total_distance_m).sum())
    );
}

#[test]
fn activity_id_is_stable_and_content_derived() {
    let bytes = read("fitparse__Activity.fit");
    let a = decode(ActivityFormat::Fit, "a.fit", &bytes).unwrap();
    let b = decode(ActivityFormat::Fit, "elsewhere/b.fit", &bytes).unwrap();
    assert_eq!(a.activity_id, b.activity_id);
    assert_eq!(a.activity_id.len(), 32);
}

/// A field declared `uint32` with 1 byte (as some Coros watches write) decodes with a
/// warning of the file, and nothing reaches stderr (fitparser alone prints `ERROR:` lines).
#[test]
fn misaligned_field_definitions_warn_instead_of_printing() {
    // record (20): timestamp (253) as a 1-byte uint32, heart_rate (3) as uint8; one sample
    let mut records = vec![0x40, 0, 0, 20, 0, 2, 253, 1, 0x86, 3, 1, 0x02];
    records.extend([0x00, 0x2A, 150]);
    let mut f = vec![12, 0x10, 0x08, 0x08];
    f.extend((records.len() as u32).to_le_bytes());
    f.extend(b".FIT");
    f.extend(&records);
    f.extend(fit_crc(&f).to_le_bytes());

    let a = decode(ActivityFormat::Fit, "coros-like.fit", &f).unwrap();
    assert_eq!(a.records.len(), 1);
    assert_eq!(a.records[0].heart_rate_bpm, Some(150));
    assert_eq!(
        a.records[0].timestamp_us, None,
        "a 1-byte timestamp has no value"
    );
    assert!(
        a.warnings
            .iter()
            .any(|w| w.contains("1 FIT field definition(s)")),
        "{:?}",
        a.warnings
    );
    assert!(
        !a.warnings.iter().any(|w| w.contains("CRC")),
        "the CRC is recomputed: {:?}",
        a.warnings
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coros-like.fit");
    std::fs::write(&path, &f).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_datamin"))
        .args(["inspect", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("ERROR"), "stderr: {stderr}");
}
