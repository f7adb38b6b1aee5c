//! Policy validation errors name file, line, column and key; compilation output.

use datamin::policy::{Policy, PolicyError};

fn err(text: &str) -> PolicyError {
    Policy::parse("p.toml", text).unwrap_err()
}

#[test]
fn unknown_rule_names_line_and_key() {
    let e = err(
        "[tables.records]\nkeep = [\"timestamp\"]\n\n[[tables.records.rules]]\nrule = \"blur\"\ncolumns = [\"timestamp\"]\n",
    );
    assert_eq!(e.line, Some(5), "{e}");
    assert_eq!(e.key.as_deref(), Some("tables.records.rules[0].rule"));
    assert!(e.message.contains("unknown rule 'blur'"), "{e}");
    assert!(
        e.to_string()
            .starts_with("p.toml:5:8: tables.records.rules[0].rule: "),
        "{e}"
    );
}

#[test]
fn unknown_column_in_keep() {
    let e = err("[tables.records]\nkeep = [\"timestamp\", \"heartrate\"]\n");
    assert_eq!((e.line, e.column), (Some(2), Some(22)), "{e}");
    assert!(e.message.contains("unknown column 'heartrate'"), "{e}");
    assert!(
        e.message.contains("heart_rate_bpm"),
        "lists valid columns: {e}"
    );
}

#[test]
fn unknown_parameter_is_rejected_by_the_parser() {
    let e = err(
        "[tables.records]\nkeep = [\"timestamp\"]\n[[tables.records.rules]]\nrule = \"truncate_time\"\ncolumns = [\"timestamp\"]\nunit = \"hour\"\nunits = \"day\"\n",
    );
    assert_eq!(e.line, Some(7), "{e}");
    assert!(e.message.contains("unknown field `units`"), "{e}");
}

#[test]
fn parameter_of_another_rule_is_rejected() {
    let e = err(
        "[tables.records]\nkeep = [\"timestamp\"]\n[[tables.records.rules]]\nrule = \"truncate_time\"\ncolumns = [\"timestamp\"]\nunit = \"hour\"\ngrid_m = 5\n",
    );
    assert_eq!(e.line, Some(7), "{e}");
    assert_eq!(e.key.as_deref(), Some("tables.records.rules[0].grid_m"));
}

#[test]
fn bad_values_are_rejected() {
    let base = "[tables.records]\nkeep = [\"timestamp\", \"position_lat\", \"position_long\", \"heart_rate_bpm\"]\n[[tables.records.rules]]\n";
    let e = err(&format!(
        "{base}rule = \"generalize_coordinates\"\ngrid_m = 0\n"
    ));
    assert!(e.message.contains("grid_m must be > 0"), "{e}");
    let e = err(&format!(
        "{base}rule = \"truncate_time\"\ncolumns = [\"timestamp\"]\nunit = \"week\"\n"
    ));
    assert!(e.message.contains("unknown unit 'week'"), "{e}");
    let e = err(&format!(
        "{base}rule = \"truncate_time\"\ncolumns = [\"heart_rate_bpm\"]\nunit = \"hour\"\n"
    ));
    assert!(e.message.contains("needs a timestamp"), "{e}");
    let e = err(&format!(
        "{base}rule = \"generalize_number\"\ncolumns = [\"heart_rate_bpm\"]\nedges = [100, 90]\n"
    ));
    assert!(e.message.contains("strictly increasing"), "{e}");
    let e = err(&format!(
        "{base}rule = \"pseudonymize\"\ncolumns = [\"distance_m\"]\n"
    ));
    assert!(e.message.contains("not in keep"), "{e}");
    let e = err("[tables.tracks]\nkeep = [\"x\"]\n");
    assert!(e.message.contains("unknown table 'tracks'"), "{e}");
    let e = err("version = 2\n[tables.records]\nkeep = [\"timestamp\"]\n");
    assert_eq!(e.key.as_deref(), Some("version"));
    let e = err("");
    assert!(e.message.contains("writes no table"), "{e}");
    let e = err(
        "[tables.records]\nkeep = [\"timestamp\"]\n[[tables.records.rules]]\nrule = \"truncate_time\"\ncolumns = [\"timestamp\"]\nunit = \"hour\"\n[[tables.records.rules]]\nrule = \"truncate_time\"\ncolumns = [\"timestamp\"]\nunit = \"day\"\n",
    );
    assert!(e.message.contains("already transformed"), "{e}");
    let e = err("[key]\nenv = \"A\"\nfile = \"b\"\n[tables.records]\nkeep = [\"timestamp\"]\n");
    assert_eq!(e.key.as_deref(), Some("key.file"));

    // [job]: trigger and Spark option names and values, with their location
    let job = "[tables.records]\nkeep = [\"timestamp\"]\n[job]\n";
    let e = err(&format!("{job}trigger = \"every-now-and-then\"\n"));
    assert_eq!((e.key.as_deref(), e.line), (Some("job.trigger"), Some(4)));
    let e = err(&format!("{job}[job.options]\nmaxFilesPerTrigger = 0\n"));
    assert_eq!(
        (e.key.as_deref(), e.line, e.column),
        (Some("job.options.maxFilesPerTrigger"), Some(5), Some(22))
    );
    assert!(e.message.contains("positive"), "{e}");
    let e = err(&format!("{job}[job.options]\nmaxFilesPerTriger = 5\n"));
    assert!(
        e.message
            .contains("unknown option; known: maxFilesPerTrigger"),
        "{e}"
    );
    let e = err(&format!("{job}[job.options]\ncleanSource = \"archive\"\n"));
    assert!(e.message.contains("needs sourceArchiveDir"), "{e}");
    let p = Policy::parse(
        "p.toml",
        &format!("{job}trigger = \"processing-time=1min\"\n[job.options]\nmaxFilesPerTrigger = 5\nlatestFirst = true\n"),
    )
    .unwrap();
    assert_eq!(
        p.job.trigger,
        Some(datamin::runner::Trigger::ProcessingTime(
            std::time::Duration::from_secs(60)
        ))
    );
    assert_eq!(
        p.job.options,
        vec![
            ("latestFirst".to_string(), "true".to_string()),
            ("maxFilesPerTrigger".to_string(), "5".to_string())
        ]
    );
}

#[tokio::test]
async fn compiled_views_keep_order_and_apply_enabled_rules_only() {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Float64Type, TimestampMicrosecondType};
    use datamin::format::{Activity, ActivityRow, RecordRow};
    use datamin::minimizer::Minimizer;
    use datamin::schema::{Table, TableBatches};

    let p = Policy::parse(
        "p.toml",
        r#"
[tables.records]
keep = ["activity_id", "timestamp", "position_lat", "position_long", "heart_rate_bpm"]
[[tables.records.rules]]
rule = "pseudonymize"
columns = ["activity_id"]
purpose = "study"
[[tables.records.rules]]
rule = "generalize_coordinates"
grid_m = 250
[[tables.records.rules]]
rule = "truncate_time"
columns = ["timestamp"]
unit = "minute"
enabled = false
[tables.activities]
keep = ["user_age_years"]
[[tables.activities.rules]]
rule = "generalize_number"
columns = ["user_age_years"]
edges = [18, 30.5]
"#,
    )
    .unwrap();
    assert!(p.needs_key());
    assert_eq!(p.sha256.len(), 64);
    assert!(p.explain().contains("-- datamin policy p.toml"));

    let t0 = 1_334_006_546_123_456; // 2012-04-09T21:22:26.123456Z, µs
    let a = Activity {
        activity_id: "a1".into(),
        source_file: "a1.fit".into(),
        file_format: "fit",
        records: vec![RecordRow {
            timestamp_us: Some(t0),
            position_lat: Some(50.851234),
            position_long: Some(4.351234),
            heart_rate_bpm: Some(140),
            ..Default::default()
        }],
        info: ActivityRow {
            user_age_years: Some(25),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut input = TableBatches::new();
    for t in Table::ALL {
        input.push(t, a.to_batch(t).unwrap());
    }
    let key =
        datamin::udfs::PseudonymKey::new("k", b"policy-test-key-0123456789".to_vec()).unwrap();
    let out = Minimizer::new(p, Some(key))
        .unwrap()
        .minimize(input)
        .await
        .unwrap();
    let names = |t: Table| -> Vec<String> {
        let m = out.table(t).unwrap();
        m.schema.fields().iter().map(|f| f.name().clone()).collect()
    };
    // only the tables named, only the kept columns, in keep order
    assert_eq!(out.tables.len(), 2);
    assert_eq!(
        names(Table::Records),
        [
            "activity_id",
            "timestamp",
            "position_lat",
            "position_long",
            "heart_rate_bpm"
        ]
    );
    assert_eq!(names(Table::Activities), ["user_age_years"]);
    let r = &out.table(Table::Records).unwrap().batches[0];
    let id = r.column(0).as_string::<i32>().value(0);
    assert!(
        id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    // truncate_time is disabled: the timestamp is untouched, to the microsecond
    assert_eq!(
        r.column(1)
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        t0
    );
    // snapped to the centre of a 250 m cell: moved, but by less than a cell diagonal
    let lat = r.column(2).as_primitive::<Float64Type>().value(0);
    let long = r.column(3).as_primitive::<Float64Type>().value(0);
    assert!((lat, long) != (50.851234, 4.351234));
    let d = datamin::udfs::geo::haversine_m(lat, long, 50.851234, 4.351234);
    assert!(d < 250.0 * std::f64::consts::SQRT_2, "{d} m");
    assert_eq!(
        r.column(4)
            .as_primitive::<datafusion::arrow::datatypes::Int16Type>()
            .value(0),
        140
    );
    let ages = &out.table(Table::Activities).unwrap().batches[0];
    assert_eq!(ages.column(0).as_string::<i32>().value(0), "[18, 30.5)");
    assert_eq!(ages.column(0).null_count(), 0);
}

#[test]
fn the_example_policy_is_valid() {
    let p = Policy::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/research.toml"
    ))
    .unwrap();
    assert_eq!(p.tables.len(), 3);
}

#[tokio::test]
async fn keyring_gives_the_active_key_or_the_one_asked_for() {
    use datamin::policy::{KeyConfig, load_key, load_key_by_id};
    let dir = std::env::temp_dir().join(format!("datamin-keyring-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ring = dir.join("keyring.toml");
    std::fs::write(
        &ring,
        "active = \"2026-11\"\n[keys]\n\"2026-05\" = \"old-secret-0123456789\"\n\"2026-11\" = \"new-secret-0123456789\"\n",
    )
    .unwrap();
    let path = ring.to_str().unwrap();
    let active = load_key(&KeyConfig::default(), Some(path)).await.unwrap();
    assert_eq!(active.id(), "2026-11");
    assert_eq!(active.secret_bytes(), b"new-secret-0123456789");
    let old = load_key_by_id(&KeyConfig::default(), Some(path), Some("2026-05"))
        .await
        .unwrap();
    assert_eq!(
        (old.id(), old.secret_bytes()),
        ("2026-05", &b"old-secret-0123456789"[..])
    );
    let e = load_key_by_id(&KeyConfig::default(), Some(path), Some("2025-01"))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("no key '2025-01' in the keyring"),
        "{e}"
    );
    std::fs::write(
        &ring,
        "active = \"2027\"\n[keys]\n\"2026-11\" = \"new-secret-0123456789\"\n",
    )
    .unwrap();
    let e = load_key(&KeyConfig::default(), Some(path))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("the active key '2027' is not in [keys] (has: 2026-11)"),
        "{e}"
    );
    // a plain key file is still a single key
    std::fs::write(&ring, "just-a-secret-0123456789\n").unwrap();
    let k = load_key(&KeyConfig::default(), Some(path)).await.unwrap();
    assert_eq!(k.secret_bytes(), b"just-a-secret-0123456789");
    assert!(k.id().starts_with("sha256:"));
    std::fs::remove_dir_all(&dir).unwrap();
}
