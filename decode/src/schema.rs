//! Canonical Arrow schemas of the tables datamin decodes activity files into.
//!
//! Every decoder (FIT, TCX, GPX) fills the same four tables, so policies and SQL work the same
//! whatever the source format. Timestamps are `Timestamp(Microsecond, "UTC")` (Spark's
//! `TIMESTAMP`), positions are WGS 84 degrees (`Float64`, converted from FIT semicircles by
//! `deg = semicircles · 180 / 2³¹`), and every physical quantity carries its unit in the
//! column name (`_m`, `_s`, `_bpm`, …). Integer columns are signed so that Spark reads them
//! without unsigned-type surprises. Columns are nullable unless noted: a value the device did
//! not record is `NULL`, never a sentinel.
//!
//! | table | one row per | FIT source | TCX source | GPX source ([`crate::gpx`]) |
//! |---|---|---|---|---|
//! | [`records`](records_schema) | sample | `record` messages | `Trackpoint` | `trkpt` (else `rtept`, else `wpt`) |
//! | [`laps`](laps_schema) | lap | `lap` messages | `Lap` | none |
//! | [`sessions`](sessions_schema) | session (sport) | `session` messages | `Activity` | `trk` (or `rte`) |
//! | [`activities`](activities_schema) | file | `file_id`, `device_info`, `user_profile` | `Creator`, `Author` | `gpx@creator`, `metadata/time` |

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The type of `records.developer_fields`: a list (NULL when a sample has none) of
/// `{name: Utf8, units: Utf8, value: Float64}` — a FIT developer field's name and units from
/// its `field_description` message and its value with the description's scale and offset
/// applied (`NULL` for text and array values). A list, not a map, so that two apps' fields of
/// the same name both stay.
pub fn developer_fields_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(
        DataType::Struct(developer_field_fields()),
        true,
    )))
}

/// The fields of one `developer_fields` element: `name`, `units`, `value`.
pub fn developer_field_fields() -> arrow_schema::Fields {
    vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("units", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ]
    .into()
}

/// The Arrow type of every timestamp column: microseconds since the Unix epoch, UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Degrees per FIT semicircle: `180 / 2³¹` (FIT profile, type `sint32`, units `semicircles`).
pub const DEGREES_PER_SEMICIRCLE: f64 = 180.0 / 2_147_483_648.0;

/// A table datamin writes: one of the four canonical activity tables that decoded files
/// fill, or a table a policy declares (with its columns) for other input, such as the JSON or
/// Avro messages of a Kafka topic. Serializes as its [`Table::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// One row per sample (FIT `record`, TCX `Trackpoint`).
    Records,
    /// One row per lap (FIT `lap`, TCX `Lap`).
    Laps,
    /// One row per session (FIT `session`, TCX `Activity`).
    Sessions,
    /// One row per file: device and user profile.
    Activities,
    /// A table the policy declares (`[tables.<name>] columns = {…}`).
    Declared(TableName),
}

/// The name of a declared table, interned: a `Copy` handle that compares by name. Each
/// distinct name is stored once for the life of the process.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName(&'static str);

impl TableName {
    /// The handle of `name`.
    pub fn intern(name: &str) -> Self {
        static NAMES: LazyLock<std::sync::Mutex<std::collections::BTreeSet<&'static str>>> =
            LazyLock::new(Default::default);
        let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = names.get(name) {
            return Self(n);
        }
        let n: &'static str = Box::leak(name.to_string().into_boxed_str());
        names.insert(n);
        Self(n)
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Debug for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl serde::Serialize for Table {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Table {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(Table::from_name(&name))
    }
}

impl Table {
    /// The canonical tables, in output order.
    pub const ALL: [Table; 4] = [
        Table::Records,
        Table::Laps,
        Table::Sessions,
        Table::Activities,
    ];

    /// The canonical table of that exact name (`records`, `laps`, `sessions`,
    /// `activities`), else the declared table of that name.
    pub fn from_name(name: &str) -> Self {
        match name {
            "records" => Table::Records,
            "laps" => Table::Laps,
            "sessions" => Table::Sessions,
            "activities" => Table::Activities,
            other => Table::Declared(TableName::intern(other)),
        }
    }

    /// The table's name (`records`, `laps`, `sessions`, `activities`, or the declared name).
    pub fn name(self) -> &'static str {
        match self {
            Table::Records => "records",
            Table::Laps => "laps",
            Table::Sessions => "sessions",
            Table::Activities => "activities",
            Table::Declared(n) => n.as_str(),
        }
    }

    /// Whether this is one of the four canonical activity tables.
    pub fn is_canonical(self) -> bool {
        !matches!(self, Table::Declared(_))
    }

    /// The canonical schema of the table; `None` for a declared table (its schema is in
    /// the policy: `datamin::policy::TablePolicy::raw_schema`).
    pub fn canonical_schema(self) -> Option<SchemaRef> {
        Some(match self {
            Table::Records => records_schema(),
            Table::Laps => laps_schema(),
            Table::Sessions => sessions_schema(),
            Table::Activities => activities_schema(),
            Table::Declared(_) => return None,
        })
    }

    /// The canonical schema of a canonical table (the activity tables that decoders fill).
    ///
    /// # Panics
    /// For a declared table: callers hold canonical tables only (decoders, the privacy
    /// zone, [`Table::ALL`]).
    pub fn schema(self) -> SchemaRef {
        self.canonical_schema()
            .expect("a canonical table (declared tables have their schema in the policy)")
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Table {
    type Err = String;

    /// Parses a table name; FIT message names (`record`, `lap`, `session`, `file_id`) are
    /// accepted as aliases.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "records" | "record" => Ok(Table::Records),
            "laps" | "lap" => Ok(Table::Laps),
            "sessions" | "session" => Ok(Table::Sessions),
            "activities" | "activity" | "file_id" => Ok(Table::Activities),
            other => Err(format!(
                "unknown table or message '{other}'; expected one of records (record), laps (lap), \
                 sessions (session), activities (file_id)"
            )),
        }
    }
}

fn f(name: &str, t: DataType) -> Field {
    Field::new(name, t, true)
}

fn id_fields() -> Vec<Field> {
    vec![
        // Lowercase hex of the first 16 bytes of SHA-256 over the whole file: stable for the
        // same bytes, independent of file name and location.
        Field::new("activity_id", DataType::Utf8, false),
        // Location of the file as given to the decoder (object store path).
        Field::new("source_file", DataType::Utf8, false),
    ]
}

static RECORDS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut v = id_fields();
    v.extend([
        f("timestamp", timestamp_type()), // FIT record.timestamp (253) / TCX Time
        f("position_lat", DataType::Float64), // degrees; FIT position_lat (0) / LatitudeDegrees
        f("position_long", DataType::Float64), // degrees; FIT position_long (1) / LongitudeDegrees
        f("altitude_m", DataType::Float64), // m; FIT altitude else enhanced_altitude / AltitudeMeters
        f("distance_m", DataType::Float64), // m, cumulative; FIT distance / DistanceMeters
        f("speed_m_s", DataType::Float64),  // m/s; FIT speed else enhanced_speed / ns3:Speed
        f("heart_rate_bpm", DataType::Int16), // bpm; FIT heart_rate / HeartRateBpm
        f("cadence_rpm", DataType::Int16),  // rpm; FIT cadence / Cadence
        f("power_w", DataType::Int32),      // W; FIT power / ns3:Watts
        f("temperature_c", DataType::Int16), // °C; FIT temperature
        f("developer_fields", developer_fields_type()), // FIT developer fields
    ]);
    Arc::new(Schema::new(v))
});

/// Schema of `records`: one row per sample.
///
/// | column | type | unit | FIT `record` field | TCX | GPX |
/// |---|---|---|---|---|---|
/// | `activity_id` | Utf8, not null | – | SHA-256 of file | same | same |
/// | `source_file` | Utf8, not null | – | path | same | same |
/// | `timestamp` | Timestamp(µs, UTC) | – | `timestamp` (incl. compressed headers) | `Time` | `time` |
/// | `position_lat`, `position_long` | Float64 | degrees | `position_lat`/`_long` (semicircles) | `Position` | `@lat`/`@lon` |
/// | `altitude_m` | Float64 | m | `altitude` (its component expansion), else `enhanced_altitude` | `AltitudeMeters` | `ele` |
/// | `distance_m` | Float64 | m | `distance` (cumulative) | `DistanceMeters` | – |
/// | `speed_m_s` | Float64 | m/s | `speed` (its component expansion), else `enhanced_speed` | `Extensions/TPX/Speed` | `speed` (1.0), TrackPointExtension v2 `speed` |
/// | `heart_rate_bpm` | Int16 | bpm | `heart_rate` | `HeartRateBpm/Value` | TrackPointExtension `hr` |
/// | `cadence_rpm` | Int16 | rpm | `cadence` | `Cadence` or `TPX/RunCadence` | TrackPointExtension `cad` |
/// | `power_w` | Int32 | W | `power` | `TPX/Watts` | `extensions/power`, PowerExtension `PowerInWatts` |
/// | `temperature_c` | Int16 | °C | `temperature` | – | TrackPointExtension `atemp` |
/// | `developer_fields` | List of {name, units, value} ([`developer_fields_type`]) | per field | developer fields (Stryd power, Connect IQ) | – | – |
pub fn records_schema() -> SchemaRef {
    RECORDS.clone()
}

fn summary_schema() -> SchemaRef {
    let mut v = id_fields();
    v.extend([
        f("message_index", DataType::Int32), // 0-based order of the lap/session in the file
        f("sport", DataType::Utf8),          // FIT sport enum name / TCX Activity@Sport
        f("sub_sport", DataType::Utf8),      // FIT sub_sport enum name
        f("start_time", timestamp_type()),   // FIT start_time / TCX Lap@StartTime
        f("end_time", timestamp_type()),     // FIT timestamp (end of lap/session)
        f("start_position_lat", DataType::Float64), // degrees
        f("start_position_long", DataType::Float64), // degrees
        f("end_position_lat", DataType::Float64), // degrees
        f("end_position_long", DataType::Float64), // degrees
        f("nec_lat", DataType::Float64),     // degrees, bounding box north-east corner
        f("nec_long", DataType::Float64),
        f("swc_lat", DataType::Float64), // degrees, bounding box south-west corner
        f("swc_long", DataType::Float64),
        f("total_elapsed_time_s", DataType::Float64), // s
        f("total_timer_time_s", DataType::Float64),   // s
        f("total_distance_m", DataType::Float64),     // m
        f("total_ascent_m", DataType::Float64),       // m
        f("total_descent_m", DataType::Float64),      // m
        f("avg_heart_rate_bpm", DataType::Int16),     // bpm
        f("max_heart_rate_bpm", DataType::Int16),     // bpm
        f("avg_speed_m_s", DataType::Float64),        // m/s (avg_speed, else enhanced_avg_speed)
        f("max_speed_m_s", DataType::Float64),        // m/s (max_speed, else enhanced_max_speed)
        f("total_calories_kcal", DataType::Int32),    // kcal
    ]);
    Arc::new(Schema::new(v))
}

static LAPS: LazyLock<SchemaRef> = LazyLock::new(summary_schema);
static SESSIONS: LazyLock<SchemaRef> = LazyLock::new(summary_schema);

/// Schema of `laps`: one row per FIT `lap` message or TCX `Lap`.
///
/// Columns: `activity_id`, `source_file`, `message_index` (0-based order in the file),
/// `sport`, `sub_sport` (FIT enum names), `start_time`, `end_time` (Timestamp µs UTC),
/// `start_position_lat/long`, `end_position_lat/long` (degrees),
/// `nec_lat/nec_long/swc_lat/swc_long` (bounding box corners, degrees; FIT lap fields 27–30
/// and session fields 29–32), `total_elapsed_time_s`,
/// `total_timer_time_s` (s), `total_distance_m`, `total_ascent_m`, `total_descent_m` (m),
/// `avg_heart_rate_bpm`, `max_heart_rate_bpm` (bpm), `avg_speed_m_s`, `max_speed_m_s` (m/s,
/// `avg_speed`/`max_speed`, else `enhanced_*`, as the FIT SDK expands components),
/// `total_calories_kcal` (kcal).
pub fn laps_schema() -> SchemaRef {
    LAPS.clone()
}

/// Schema of `sessions`: one row per FIT `session` message, TCX `Activity` or GPX `trk`; the
/// same columns as [`laps_schema`]. TCX has no session totals: they are summed over its laps.
/// GPX has neither totals nor laps: times, positions and the bounding box come from the
/// points, the other totals are NULL.
pub fn sessions_schema() -> SchemaRef {
    SESSIONS.clone()
}

static ACTIVITIES: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut v = id_fields();
    v.extend([
        Field::new("file_format", DataType::Utf8, false), // "fit" | "tcx" | "gpx"
        f("file_type", DataType::Utf8),                   // FIT file_id.type (activity, settings…)
        f("manufacturer", DataType::Utf8),                // FIT file_id.manufacturer
        f("product", DataType::Utf8), // FIT file_id.product (name when known) / TCX Creator/Name
        f("serial_number", DataType::Int64), // FIT file_id.serial_number / TCX Creator/UnitId
        f("time_created", timestamp_type()), // FIT file_id.time_created / TCX Activity/Id
        f("software_version", DataType::Utf8), // FIT device_info / TCX Creator/Version
        f("sport", DataType::Utf8),   // first session's sport
        f("start_time", timestamp_type()), // first record's timestamp
        f("end_time", timestamp_type()), // last record's timestamp
        f("record_count", DataType::Int64), // number of rows in `records`
        f("user_friendly_name", DataType::Utf8), // FIT user_profile.friendly_name
        f("user_gender", DataType::Utf8), // FIT user_profile.gender
        f("user_age_years", DataType::Int16), // years; FIT user_profile.age
        f("user_height_m", DataType::Float64), // m; FIT user_profile.height
        f("user_weight_kg", DataType::Float64), // kg; FIT user_profile.weight
        f("user_resting_heart_rate_bpm", DataType::Int16), // bpm; FIT user_profile.resting_heart_rate
    ]);
    Arc::new(Schema::new(v))
});

/// Schema of `activities`: one row per file, with the directly identifying fields a
/// policy must be able to remove or pseudonymize.
///
/// Columns: `activity_id`, `source_file`, `file_format` (`fit`/`tcx`/`gpx`, not null),
/// `file_type` (FIT `file_id.type`), `manufacturer`, `product`, `serial_number` (Int64;
/// FIT `file_id.serial_number`, TCX `Creator/UnitId`), `time_created`, `software_version`,
/// `sport` (first session), `start_time`, `end_time` (first/last record), `record_count`,
/// and the user profile (FIT `user_profile`): `user_friendly_name`, `user_gender`,
/// `user_age_years` (years), `user_height_m` (m), `user_weight_kg` (kg),
/// `user_resting_heart_rate_bpm` (bpm).
pub fn activities_schema() -> SchemaRef {
    ACTIVITIES.clone()
}

/// The canonical tables and their columns, as `datamin schema` prints them.
///
/// Text (`json == false`): per table its name, then one line per column with its Arrow type
/// and `NOT NULL` where it is not nullable. JSON: one line `{"table": ["column", …]}` (tables
/// in name order). Either ends with a newline.
pub fn describe(json: bool) -> String {
    use std::fmt::Write as _;
    if json {
        let m: serde_json::Map<String, serde_json::Value> = Table::ALL
            .iter()
            .map(|t| {
                let cols = t
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| serde_json::Value::from(f.name().as_str()))
                    .collect();
                (t.name().to_string(), serde_json::Value::Array(cols))
            })
            .collect();
        return format!("{}\n", serde_json::Value::Object(m));
    }
    let mut s = String::new();
    for t in Table::ALL {
        let _ = writeln!(s, "{t}");
        for f in t.schema().fields() {
            let _ = writeln!(
                s,
                "  {:<30} {}{}",
                f.name(),
                f.data_type(),
                if f.is_nullable() { "" } else { " NOT NULL" }
            );
        }
    }
    s
}

/// Batches of tables that travel together through the pipeline: one micro-batch of decoded
/// files (or of stream messages), before and after minimization.
///
/// Each table holds any number of [`RecordBatch`]es with that table's columns (for a
/// canonical table those of [`Table::schema`], possibly with extra columns such as a
/// `subject` partition column). Order is kept: the batches of a table are in input order.
#[derive(Debug, Clone, Default)]
pub struct TableBatches {
    tables: std::collections::BTreeMap<Table, Vec<RecordBatch>>,
}

impl TableBatches {
    /// No batches.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `batch` to `table`.
    pub fn push(&mut self, table: Table, batch: RecordBatch) {
        self.tables.entry(table).or_default().push(batch);
    }

    /// The batches of `table`, in input order.
    pub fn get(&self, table: Table) -> &[RecordBatch] {
        self.tables.get(&table).map_or(&[], Vec::as_slice)
    }

    /// Removes and returns the batches of `table`.
    pub fn take(&mut self, table: Table) -> Vec<RecordBatch> {
        self.tables.remove(&table).unwrap_or_default()
    }

    /// Replaces the batches of `table`.
    pub fn set(&mut self, table: Table, batches: Vec<RecordBatch>) {
        self.tables.insert(table, batches);
    }

    /// Rows of `table`, summed over its batches.
    pub fn num_rows(&self, table: Table) -> usize {
        self.get(table).iter().map(RecordBatch::num_rows).sum()
    }
}
