//! The privacy zone as an activity-level operator over Arrow batches of the canonical
//! tables.
//!
//! [`PrivacyZone::apply`] groups the rows of `records`, `laps` and `sessions` by
//! `activity_id`, decides per activity which samples to hide ([`super::mask::visible`]),
//! removes them, re-bases and rounds the cumulative distance, recomputes laps and sessions
//! from what stays visible ([`super::summary`]), removes the laps of every activity that
//! lost samples, and rewrites the per-activity columns of `activities` (`start_time`,
//! `end_time`, `record_count`; `time_created` removed). Input is any batches with the
//! canonical columns (found by name, cast to the canonical type), whatever decoded them;
//! other columns pass through. Rows keep their order within an activity, and activities
//! the order in which they first appear.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, UInt32Array,
};
use datafusion::arrow::compute::{concat_batches, filter_record_batch, take_record_batch};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{Result, plan_err};
use datamin_udfs::PseudonymKey;

use super::cells::Cell;
use super::displace::Displacement;
use super::mask::{LatLong, visible};
use super::summary::{VisibleTrack, recompute_lap, recompute_session};
use super::{ZoneConfig, ZoneStats};
use crate::format::Activity;
use crate::format::from_arrow::{
    f64s, first_string, has_column, i16s, i64s, read_summaries, replace_column, strings, times_us,
    timestamp_array, write_summaries,
};
use crate::schema::{Table, TableBatches};

/// The privacy-zone step of a policy, with the key it draws from and the cells each
/// subject's activities have been anchored to.
///
/// **Anchors.** The first activity end of a subject that falls in a cell anchors the
/// subject to that cell; later ends within `1.06·cell_m` of an anchored cell's centre use
/// that cell even when they lie just across its edge (see [`super::mask::hidden_disks`]).
/// Without this, starts scattered around a home near a cell edge would show two cells, and
/// the pair would tell that the home lies near their common edge. Anchors live as long as
/// this value (clones share them): one `datamin run`, one embedding [`crate::minimizer::Minimizer`].
/// They hold cell indexes of the subject's keyed grid under a keyed id of the subject, which
/// say nothing without the key; `datamin run` keeps them in its checkpoint
/// (`state/privacy_zone/<batch>`, [`PrivacyZone::anchors_json`]) so that a restarted or
/// rerun stream keeps every subject's cells.
#[derive(Debug, Clone)]
pub struct PrivacyZone {
    cfg: ZoneConfig,
    key: Option<PseudonymKey>,
    anchors: Arc<Mutex<HashMap<String, Vec<Cell>>>>,
}

/// One activity after the zone: its visible samples and recomputed summaries.
#[derive(Debug, Clone)]
pub struct ZonedActivity {
    /// The visible `records` rows, distance re-based and rounded.
    pub records: RecordBatch,
    /// The laps that kept a visible sample, recomputed.
    pub laps: RecordBatch,
    /// The sessions, recomputed (location values removed when nothing is visible).
    pub sessions: RecordBatch,
    /// First and last visible timestamp (µs, UTC) and the number of visible samples.
    pub span: (Option<i64>, Option<i64>, i64),
    /// What was hidden.
    pub stats: ZoneStats,
}

impl PrivacyZone {
    /// The zone step of `cfg`.
    ///
    /// # Errors
    /// `cfg` has keyed parts ([`ZoneConfig::is_keyed`]) and `key` is `None`.
    pub fn new(cfg: ZoneConfig, key: Option<PseudonymKey>) -> Result<Self> {
        if cfg.is_keyed() && key.is_none() {
            return plan_err!(
                "the privacy zone draws its cell grid and trimming from the secret key, but no key was given"
            );
        }
        Ok(Self {
            cfg,
            key,
            anchors: Arc::default(),
        })
    }

    /// The zone's parameters.
    pub fn config(&self) -> &ZoneConfig {
        &self.cfg
    }

    /// The key under which `subject`'s anchors are kept: lowercase hex of
    /// `HMAC-SHA256(key, "datamin/zone-anchor/" || subject)` (the subject itself without a
    /// key), so that saved anchors name no subject.
    fn anchor_id(&self, subject: &str) -> String {
        match &self.key {
            Some(k) => {
                use hmac::Mac;
                let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(k.secret_bytes())
                    .expect("HMAC takes any key length");
                m.update(b"datamin/zone-anchor/");
                m.update(subject.as_bytes());
                hex::encode(m.finalize().into_bytes())
            }
            None => subject.to_string(),
        }
    }

    /// The anchors as JSON, to keep in a checkpoint: `{"cell_m": …, "anchors": {"<anchor
    /// id>": [[lon0, q, r], …]}}` (cell indexes in the subject's keyed grid; see
    /// [`PrivacyZone`]).
    pub fn anchors_json(&self) -> serde_json::Value {
        let anchors = self.anchors.lock().expect("zone anchors");
        let map: std::collections::BTreeMap<&String, Vec<[i64; 3]>> = anchors
            .iter()
            .map(|(k, v)| (k, v.iter().map(|c| [c.lon0.into(), c.q, c.r]).collect()))
            .collect();
        serde_json::json!({ "cell_m": self.cfg.cell_m, "anchors": map })
    }

    /// Restores anchors saved by [`PrivacyZone::anchors_json`] (replacing the current ones).
    /// Anchors saved with another `cell_m` belong to another grid and are dropped; so are
    /// entries that are not `[lon0, q, r]` triples. Returns the number of subjects restored.
    pub fn restore_anchors(&self, saved: &serde_json::Value) -> usize {
        let mut anchors = self.anchors.lock().expect("zone anchors");
        anchors.clear();
        if saved.get("cell_m").and_then(serde_json::Value::as_f64) != Some(self.cfg.cell_m) {
            return 0;
        }
        let Some(map) = saved.get("anchors").and_then(serde_json::Value::as_object) else {
            return 0;
        };
        for (id, cells) in map {
            let cells: Vec<Cell> = cells
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    let v: Vec<i64> = c.as_array()?.iter().filter_map(|x| x.as_i64()).collect();
                    match v[..] {
                        [lon0, q, r] => Some(Cell {
                            lon0: i16::try_from(lon0).ok()?,
                            q,
                            r,
                        }),
                        _ => None,
                    }
                })
                .collect();
            anchors.insert(id.clone(), cells);
        }
        anchors.len()
    }

    /// Makes this zone share `other`'s anchors (a policy reload keeps the subjects' cells)
    /// when both use the same grid (`cell_m`) and key; otherwise nothing changes.
    pub fn adopt_anchors(&mut self, other: &PrivacyZone) {
        let same_key = match (&self.key, &other.key) {
            (Some(a), Some(b)) => a.secret_bytes() == b.secret_bytes(),
            (None, None) => true,
            _ => false,
        };
        if same_key && self.cfg.cell_m == other.cfg.cell_m {
            self.anchors = Arc::clone(&other.anchors);
        }
    }

    /// Applies the zone to one decoded activity of `subject` in place, with this zone's
    /// anchors (what [`PrivacyZone::apply`] does to each activity of a batch; apply a
    /// subject's activities in time order). `info.time_created_us` is removed as `apply`
    /// removes `activities.time_created`.
    ///
    /// # Errors
    /// The activity's rows do not form valid canonical batches (a decoder bug).
    pub fn apply_activity(&self, a: &mut Activity, subject: &str) -> Result<ZoneStats> {
        let key = self.key.as_ref().map(PseudonymKey::secret_bytes);
        let mut anchors = self.anchors.lock().expect("zone anchors");
        let mine = anchors.entry(self.anchor_id(subject)).or_default();
        super::zone_in_place(a, &self.cfg, key, subject, Some(mine))
    }

    /// Applies the zone to every activity in `input` (see the module docs). Tables other
    /// than `records`, `laps`, `sessions` and `activities` do not exist; all four may be
    /// empty. The output holds one batch per activity for `records`, `laps` and `sessions`.
    ///
    /// # Errors
    /// A table lacks `activity_id`, `records` lacks `position_lat`/`position_long`, or a
    /// canonical column has a type that cannot be cast to the canonical one.
    pub fn apply(&self, mut input: TableBatches) -> Result<(TableBatches, ZoneStats)> {
        let records = concat(Table::Records, input.take(Table::Records))?;
        let laps = concat(Table::Laps, input.take(Table::Laps))?;
        let sessions = concat(Table::Sessions, input.take(Table::Sessions))?;
        let activities = input.take(Table::Activities);
        if records.num_rows() > 0 {
            for c in ["position_lat", "position_long"] {
                if !has_column(&records, c) {
                    return plan_err!("the privacy zone needs column records.{c}");
                }
            }
        }
        let (order, groups) = group_by_activity(&[&records, &laps, &sessions])?;
        let serials = serial_numbers(&activities)?;
        let mut out = TableBatches::new();
        let mut stats = ZoneStats::default();
        let mut spans = HashMap::new();
        for id in &order {
            let pick = |t: usize, b: &RecordBatch| -> Result<RecordBatch> {
                let idx = groups[t].get(id).cloned().unwrap_or_default();
                Ok(take_record_batch(b, &UInt32Array::from(idx))?)
            };
            let (r, l, s) = (pick(0, &records)?, pick(1, &laps)?, pick(2, &sessions)?);
            let (subject, known) = subject_of(&r, id, serials.get(id).copied().flatten());
            let key = self.key.as_ref().map(PseudonymKey::secret_bytes);
            let z = {
                let mut anchors = self.anchors.lock().expect("zone anchors");
                let mine = anchors.entry(self.anchor_id(&subject)).or_default();
                zone_activity(&self.cfg, key, &subject, id, &r, &l, &s, Some(mine))?
            };
            stats.add(&z.stats);
            stats.activities_without_subject += usize::from(!known);
            spans.insert(id.clone(), z.span);
            out.push(Table::Records, z.records);
            out.push(Table::Laps, z.laps);
            out.push(Table::Sessions, z.sessions);
        }
        for b in activities {
            out.push(Table::Activities, rewrite_activities(&b, &spans)?);
        }
        Ok((out, stats))
    }
}

/// All batches of `table` as one (an empty batch of the canonical schema when none).
fn concat(table: Table, batches: Vec<RecordBatch>) -> Result<RecordBatch> {
    match batches.first() {
        None => Ok(RecordBatch::new_empty(table.schema())),
        Some(b) => Ok(concat_batches(&b.schema(), &batches)?),
    }
}

/// Activity ids in order of first appearance (records, then laps, then sessions) and, per
/// table, the row indexes of each activity.
type Groups = (Vec<String>, [HashMap<String, Vec<u32>>; 3]);

fn group_by_activity(tables: &[&RecordBatch; 3]) -> Result<Groups> {
    let mut order = Vec::new();
    let mut groups: [HashMap<String, Vec<u32>>; 3] = Default::default();
    for (t, b) in tables.iter().enumerate() {
        if b.num_rows() == 0 {
            continue;
        }
        if !has_column(b, "activity_id") {
            return plan_err!("the privacy zone groups rows by activity_id, which is missing");
        }
        for (i, id) in strings(b, "activity_id")?.into_iter().enumerate() {
            let id = id.unwrap_or_default();
            if !groups[..=t].iter().any(|g| g.contains_key(&id)) {
                order.push(id.clone());
            }
            groups[t].entry(id).or_default().push(i as u32);
        }
    }
    Ok((order, groups))
}

/// `serial_number` per `activity_id` from the `activities` batches.
fn serial_numbers(activities: &[RecordBatch]) -> Result<HashMap<String, Option<i64>>> {
    let mut out = HashMap::new();
    for b in activities {
        let ids = strings(b, "activity_id")?;
        let serials = i64s(b, "serial_number")?;
        for (id, s) in ids.into_iter().zip(serials) {
            if let Some(id) = id {
                out.insert(id, s);
            }
        }
    }
    Ok(out)
}

/// The subject whose keyed zone parameters an activity uses: its `subject` column, else a
/// Hive-style `subject=<id>` segment of its `source_file`, else `serial:<device serial>`,
/// else `activity:<activity_id>`; and whether it is known (`false` for the last: the
/// activity is then its own subject).
fn subject_of(records: &RecordBatch, activity_id: &str, serial: Option<i64>) -> (String, bool) {
    if let Some(s) = first_string(records, "subject") {
        return (s, true);
    }
    if let Some(seg) = first_string(records, "source_file").and_then(|f| {
        f.split('/')
            .find_map(|s| s.strip_prefix("subject="))
            .map(str::to_string)
    }) {
        return (seg, true);
    }
    match serial {
        Some(s) => (format!("serial:{s}"), true),
        None => (format!("activity:{activity_id}"), false),
    }
}

/// Applies the zone to one activity: `records`, `laps` and `sessions` hold only its rows
/// (records in time order). `key` is the secret for the keyed parts; `anchors` the cells
/// the subject is anchored to ([`super::mask::hidden_disks`]; `None`: none kept).
///
/// # Errors
/// A canonical column with a type that cannot be cast to the canonical one.
#[allow(clippy::too_many_arguments)]
pub fn zone_activity(
    cfg: &ZoneConfig,
    key: Option<&[u8]>,
    subject: &str,
    activity_id: &str,
    records: &RecordBatch,
    laps: &RecordBatch,
    sessions: &RecordBatch,
    anchors: Option<&mut Vec<Cell>>,
) -> Result<ZonedActivity> {
    let lat = f64s(records, "position_lat")?;
    let long = f64s(records, "position_long")?;
    let positions: Vec<Option<LatLong>> = lat.iter().zip(&long).map(|(a, o)| a.zip(*o)).collect();
    let keep = visible(&positions, cfg, key, subject, activity_id, anchors);
    let mask = BooleanArray::from(keep);
    let mut kept = filter_record_batch(records, &mask)?;
    // every published position of the subject moves by its keyed vector
    let shift = Displacement::for_subject(cfg, key, subject);
    let visible_positions: Vec<Option<LatLong>> = positions
        .iter()
        .zip(mask.values().iter())
        .filter_map(|(p, k)| k.then_some(p.map(|p| shift.map_or(p, |d| d.apply(p)))))
        .collect();
    if shift.is_some() {
        let (la, lo): (Vec<_>, Vec<_>) = visible_positions
            .iter()
            .map(|p| (p.map(|p| p.0), p.map(|p| p.1)))
            .unzip();
        kept = replace_column(&kept, "position_lat", Arc::new(Float64Array::from(la)))?;
        kept = replace_column(&kept, "position_long", Arc::new(Float64Array::from(lo)))?;
    }

    // re-base the cumulative distance at the first visible sample and round it
    let quant = |d: f64| {
        if cfg.distance_quantum_m > 0.0 {
            (d / cfg.distance_quantum_m).round() * cfg.distance_quantum_m
        } else {
            d
        }
    };
    let raw_distance = f64s(&kept, "distance_m")?;
    let base = raw_distance.iter().find_map(|d| *d);
    let rebased: ArrayRef = Arc::new(Float64Array::from_iter(raw_distance.iter().map(
        |d| match (d, base) {
            (Some(d), Some(b)) => Some(quant((d - b).max(0.0))),
            _ => None,
        },
    )));
    let mut out_records = replace_column(&kept, "distance_m", rebased)?;
    // Developer fields are app-defined (a Connect IQ field may be a cumulative distance or
    // time since the start, or a position): nothing says they do not depend on the hidden
    // part, so they are removed (NULL) from every record of an activity that lost samples;
    // and nothing can displace a position hidden in one, so with the displacement on they
    // are removed from every record.
    if (kept.num_rows() < records.num_rows() || shift.is_some())
        && let Some(c) = out_records.column_by_name("developer_fields")
    {
        let nulls = datafusion::arrow::array::new_null_array(c.data_type(), kept.num_rows());
        out_records = replace_column(&out_records, "developer_fields", nulls)?;
    }

    let track = VisibleTrack {
        timestamp_us: times_us(&kept, "timestamp")?,
        position: visible_positions,
        raw_distance_m: raw_distance,
        speed_m_s: f64s(&kept, "speed_m_s")?,
        altitude_m: f64s(&kept, "altitude_m")?,
        heart_rate_bpm: i16s(&kept, "heart_rate_bpm")?,
    };

    // Laps: their boundaries sit at fixed distances or times from the start (auto-lap every
    // km, the lap button at the door), so any lap of an activity that lost samples tells how
    // much was hidden before it. They are published only when nothing was hidden.
    let hid_any = kept.num_rows() < records.num_rows();
    let mut lap_rows = read_summaries(laps)?;
    let lap_keep: Vec<bool> = lap_rows
        .iter_mut()
        .map(|l| !hid_any && recompute_lap(l, &track, &quant))
        .collect();
    let laps_removed = lap_keep.iter().filter(|k| !**k).count();
    let out_laps = filter_record_batch(
        &write_summaries(laps, &lap_rows)?,
        &BooleanArray::from(lap_keep),
    )?;

    let mut session_rows = read_summaries(sessions)?;
    let single = session_rows.len() == 1;
    for s in &mut session_rows {
        recompute_session(s, &track, single, &quant);
    }
    let out_sessions = write_summaries(sessions, &session_rows)?;

    let first = track.timestamp_us.iter().find_map(|t| *t);
    let last = track.timestamp_us.iter().rev().find_map(|t| *t);
    Ok(ZonedActivity {
        span: (first, last, kept.num_rows() as i64),
        stats: ZoneStats {
            records_in: records.num_rows(),
            records_hidden: records.num_rows() - kept.num_rows(),
            laps_removed,
            activities_without_subject: 0,
        },
        records: out_records,
        laps: out_laps,
        sessions: out_sessions,
    })
}

/// `activities` with `start_time`, `end_time` and `record_count` taken from the visible
/// samples of each activity (`NULL`/0 for an activity without visible samples), and
/// `time_created` removed (`NULL`).
fn rewrite_activities(
    b: &RecordBatch,
    spans: &HashMap<String, (Option<i64>, Option<i64>, i64)>,
) -> Result<RecordBatch> {
    let ids = strings(b, "activity_id")?;
    let span = |id: &Option<String>| {
        id.as_ref()
            .and_then(|i| spans.get(i).copied())
            .unwrap_or((None, None, 0))
    };
    let spans: Vec<_> = ids.iter().map(span).collect();
    let b = replace_column(b, "start_time", timestamp_array(spans.iter().map(|s| s.0)))?;
    let b = replace_column(&b, "end_time", timestamp_array(spans.iter().map(|s| s.1)))?;
    // when the file was created is when the hidden part began
    let b = replace_column(
        &b,
        "time_created",
        timestamp_array(spans.iter().map(|_| None)),
    )?;
    let counts: ArrayRef = Arc::new(Int64Array::from_iter_values(spans.iter().map(|s| s.2)));
    let b = replace_column(&b, "record_count", counts)?;
    debug_assert!(
        b.column_by_name("record_count")
            .is_none_or(|c| c.null_count() == 0)
    );
    Ok(b)
}
