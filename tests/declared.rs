//! Declared tables (`[tables.<name>] columns = {…}`): validated with locations, minimized by
//! the same views as the activity tables, with the Kafka metadata columns beside the payload.

use datafusion::arrow::array::{
    Array, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datamin::minimizer::Minimizer;
use datamin::policy::Policy;
use datamin::schema::{Table, TableBatches};
use datamin::source::kafka::KafkaMessage;
use datamin::source::payload::decode_json;
use datamin::udfs::PseudonymKey;

const POLICY: &str = r#"
[tables.plays]
columns = { endTime = "timestamp", artistName = "string", trackName = "string", msPlayed = "long", timestamp = "string" }
keep = ["endTime", "artistName", "msPlayed", "partition", "offset", "kafka_timestamp", "timestamp"]

[[tables.plays.rules]]
rule = "truncate_time"
columns = ["endTime"]
unit = "hour"

[[tables.plays.rules]]
rule = "pseudonymize"
columns = ["artistName"]

[[tables.plays.rules]]
rule = "suppress_rows"
where = '"msPlayed" < 1000'

[[tables.plays.rules]]
rule = "noise"
columns = ["msPlayed"]
scale = 10
"#;

fn err(text: &str) -> datamin::policy::PolicyError {
    Policy::parse("p.toml", text).unwrap_err()
}

#[test]
fn declared_tables_are_validated_with_locations() {
    let p = Policy::parse("p.toml", POLICY).unwrap();
    let t = p.table(Table::from_name("plays")).unwrap();
    let names: Vec<&str> = t
        .raw_schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    // The payload's own `timestamp` keeps its name; Kafka's is then `kafka_timestamp`.
    assert_eq!(
        names,
        [
            "endTime",
            "artistName",
            "trackName",
            "msPlayed",
            "timestamp",
            "key",
            "topic",
            "partition",
            "offset",
            "kafka_timestamp",
            "headers"
        ]
    );
    let e = err("[tables.plays]\nkeep = [\"a\"]\n");
    assert_eq!((e.line, e.column), (Some(1), Some(9)), "{e}");
    assert!(e.message.contains("declares its input columns"), "{e}");
    let e = err("[tables.plays]\ncolumns = { a = \"text\" }\nkeep = [\"a\"]\n");
    assert_eq!(e.key.as_deref(), Some("tables.plays.columns.a"), "{e}");
    assert_eq!((e.line, e.column), (Some(2), Some(17)), "{e}");
    assert!(e.message.contains("unknown column type 'text'"), "{e}");
    let e = err("[tables.plays]\ncolumns = { a = \"string\" }\nkeep = [\"b\"]\n");
    assert!(
        e.message.contains("unknown column 'b' in table plays"),
        "{e}"
    );
    let e = err("[tables.records]\ncolumns = { a = \"string\" }\nkeep = [\"timestamp\"]\n");
    assert!(e.message.contains("fixed columns"), "{e}");
    // Rules that need activities are refused on a declared table.
    let e = err(
        "[tables.plays]\ncolumns = { a = \"long\" }\nkeep = [\"a\"]\n[[tables.plays.rules]]\nrule = \"relative\"\ncolumns = [\"a\"]\n",
    );
    assert!(e.message.contains("activity tables"), "{e}");
    // Fail closed: a zone would not apply to a declared table.
    let e = err(
        "[privacy_zone]\nradius_m = 200\n[tables.plays]\ncolumns = { a = \"long\" }\nkeep = [\"a\"]\n",
    );
    assert_eq!(e.key.as_deref(), Some("tables.plays"), "{e}");
    assert!(e.message.contains("privacy zone"), "{e}");
}

fn message(offset: i64, payload: &str) -> KafkaMessage {
    KafkaMessage {
        topic: "plays".into(),
        partition: 1,
        offset,
        timestamp_ms: Some(1_619_070_000_000),
        key: Some(b"listener-1".to_vec().into()),
        payload: Some(payload.as_bytes().to_vec().into()),
        headers: vec![],
    }
}

#[tokio::test]
async fn a_declared_table_is_minimized_like_an_activity_table() {
    let policy = Policy::parse("p.toml", POLICY).unwrap();
    let table = Table::from_name("plays");
    let payload = policy.table(table).unwrap().declared.clone().unwrap();
    let msgs = [
        message(
            7,
            r#"{"endTime":"2021-04-22T05:41:00Z","artistName":"Shindy","trackName":"Dreams","msPlayed":246292,"timestamp":"t"}"#,
        ),
        message(
            8,
            r#"{"endTime":"2021-04-22T06:02:00Z","artistName":"Shindy","trackName":"Dreams","msPlayed":10}"#,
        ),
        message(
            9,
            r#"{"endTime":"2021-04-22T07:59:59Z","artistName":"Cro","trackName":"Bye","msPlayed":180000}"#,
        ),
    ];
    let refs: Vec<&KafkaMessage> = msgs.iter().collect();
    let (batch, bad) = decode_json(&payload, None, &refs).unwrap();
    assert!(bad.is_empty(), "{bad:?}");
    let key = PseudonymKey::new("k1", b"a secret of at least 16 bytes".to_vec()).unwrap();
    let m = Minimizer::new(policy, Some(key)).unwrap();
    let mut input = TableBatches::new();
    input.push(table, batch);
    let out = m.minimize(input).await.unwrap();
    let t = out.table(table).unwrap();
    assert_eq!((t.rows_in, t.rows_out), (3, 2));
    assert_eq!(t.removed_by_rule, [("suppress_rows".to_string(), 1)]);
    let b = &t.batches[0];
    let col = |n: &str| b.column(b.schema().index_of(n).unwrap()).clone();
    let end = col("endTime");
    let end = end
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .unwrap();
    // 05:41 → 05:00, 07:59:59 → 07:00 (UTC, µs)
    assert_eq!(
        end.values(),
        &[1_619_067_600_000_000, 1_619_074_800_000_000]
    );
    let off = col("offset");
    assert_eq!(
        off.as_any().downcast_ref::<Int64Array>().unwrap().values(),
        &[7, 9]
    );
    let artist = col("artistName");
    let artist = artist.as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(artist.value(0).len(), 64);
    assert_ne!(artist.value(0), artist.value(1));
    let ms = col("msPlayed");
    // Keyed Laplace noise, scale 10 (a float column): near the value, not equal to it.
    let ms = ms.as_any().downcast_ref::<Float64Array>().unwrap();
    assert!(
        (ms.value(0) - 246_292.0).abs() < 200.0 && ms.value(0) != 246_292.0,
        "{}",
        ms.value(0)
    );
    let ts = col("timestamp");
    assert_eq!(
        ts.as_any().downcast_ref::<StringArray>().unwrap().value(0),
        "t"
    );
    assert!(ts.is_null(1));
    let again = {
        let mut input = TableBatches::new();
        input.push(table, decode_json(&payload, None, &refs).unwrap().0);
        m.minimize(input).await.unwrap()
    };
    assert_eq!(
        again.table(table).unwrap().batches,
        t.batches,
        "same input, same output"
    );
}
