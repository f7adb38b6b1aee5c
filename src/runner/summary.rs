//! What a run did: per batch and summed over the run, with the human rendering `datamin run`
//! prints.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::format::Quarantined;
use crate::privacy::ZoneStats;

/// How many skipped objects the text summary names one by one.
const SKIPPED_LINES: usize = 20;

/// Rows, files and bytes of one output table, summed over the run's batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSummary {
    /// Table name.
    pub table: String,
    /// Rows decoded.
    pub rows_in: u64,
    /// Rows written.
    pub rows_out: u64,
    /// Columns written.
    pub columns: usize,
    /// The table's directory (`file:///out/records/`): read it with Spark or datamin.
    pub location: String,
    /// Data files written by this run.
    pub files: usize,
    /// Bytes written by this run.
    pub bytes: u64,
    /// Rows removed (or merged, `aggregate`) by each row rule, in policy order.
    pub removed_by_rule: Vec<(String, u64)>,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    /// Micro-batches committed by this run, in order (empty: nothing new).
    pub batches: Vec<u64>,
    /// Activity files this run took from the input.
    pub files_found: usize,
    /// Files decoded.
    pub files_decoded: usize,
    /// Kafka messages this run took from the input (a Kafka input).
    pub messages: u64,
    /// Files quarantined.
    pub rejected: Vec<Quarantined>,
    /// URLs of the objects under the input that are not activity files (not `.fit`, `.tcx`
    /// or `.gpx`, optionally `.gz`): never read, listed so that nothing is left out
    /// silently. Sorted; every such object the run's listings saw, whether or not a batch ran.
    pub skipped: Vec<String>,
    /// Warnings per file (e.g. CRC mismatches accepted by lenient decoding).
    pub warnings: BTreeMap<String, Vec<String>>,
    /// Bytes read from the input.
    pub bytes_read: u64,
    /// Per output table.
    pub tables: Vec<TableSummary>,
    /// What the privacy zone hid, summed over all activities (`None`: no zone rule).
    pub privacy_zone: Option<ZoneStats>,
    /// Policy versions this run used: `(first batch, SHA-256)`, in order; more than one
    /// when the policy was changed while the run went on.
    pub policy_versions: Vec<(u64, String)>,
    /// Policy changes that were refused (invalid), with the error; the run went on with the
    /// last valid version.
    pub policy_errors: Vec<String>,
    /// The run stopped on a signal (SIGINT/SIGTERM) at a batch boundary.
    pub stopped: bool,
    /// Wall time, seconds.
    pub elapsed_s: f64,
}

impl RunSummary {
    /// Adds one committed batch's table to the totals.
    pub(crate) fn add_table(&mut self, t: TableSummary) {
        match self.tables.iter_mut().find(|x| x.table == t.table) {
            Some(x) => {
                x.rows_in += t.rows_in;
                x.rows_out += t.rows_out;
                x.columns = t.columns;
                x.files += t.files;
                x.bytes += t.bytes;
                for (rule, n) in t.removed_by_rule {
                    match x.removed_by_rule.iter_mut().find(|(r, _)| *r == rule) {
                        Some((_, m)) => *m += n,
                        None => x.removed_by_rule.push((rule, n)),
                    }
                }
            }
            None => self.tables.push(t),
        }
    }

    /// Adds one batch's zone statistics to the totals.
    pub(crate) fn add_zone(&mut self, z: Option<ZoneStats>) {
        let Some(z) = z else { return };
        match &mut self.privacy_zone {
            Some(t) => t.add(&z),
            None => self.privacy_zone = Some(z),
        }
    }

    /// Human-readable summary, one fact per line.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let mb = self.bytes_read as f64 / 1e6;
        let batches = match (self.batches.first(), self.batches.last()) {
            (Some(a), Some(b)) if a == b => format!("batch {a}"),
            (Some(a), Some(b)) => format!("batches {a}..={b}"),
            _ => {
                s.push_str("no new input: the output is up to date\n");
                self.render_skipped(&mut s);
                return s;
            }
        };
        let taken = if self.messages > 0 {
            format!(
                "{} messages, {} decoded, {} rejected",
                self.messages,
                self.messages - self.rejected.len() as u64,
                self.rejected.len()
            )
        } else {
            format!(
                "{} files, {} decoded, {} quarantined{}",
                self.files_found,
                self.files_decoded,
                self.rejected.len(),
                if self.skipped.is_empty() {
                    String::new()
                } else {
                    format!(", {} skipped", self.skipped.len())
                }
            )
        };
        s.push_str(&format!(
            "{batches}: {taken}; {:.1} MB read in {:.2} s ({:.1} MB/s){}\n",
            mb,
            self.elapsed_s,
            mb / self.elapsed_s.max(1e-9),
            if self.stopped {
                "; stopped by signal"
            } else {
                ""
            }
        ));
        for t in &self.tables {
            s.push_str(&format!(
                "  {:<11} {:>9} rows in, {:>9} rows out, {:>2} columns -> {} ({} files, {} bytes)\n",
                t.table, t.rows_in, t.rows_out, t.columns, t.location, t.files, t.bytes
            ));
            for (rule, n) in &t.removed_by_rule {
                let verb = if rule == "aggregate" {
                    "merged"
                } else {
                    "removed"
                };
                s.push_str(&format!("  {:<11} {rule}: {n} rows {verb}\n", ""));
            }
        }
        if let Some(z) = &self.privacy_zone {
            s.push_str(&format!(
                "  privacy_zone: {} of {} records hidden ({:.1}%), {} laps removed\n",
                z.records_hidden,
                z.records_in,
                100.0 * z.records_hidden as f64 / z.records_in.max(1) as f64,
                z.laps_removed
            ));
            if z.activities_without_subject > 0 {
                s.push_str(&format!(
                    "  privacy_zone: {} activities without a subject (no subject=<id> folder or device serial), each zoned alone: their displacement is not shared\n",
                    z.activities_without_subject
                ));
            }
        }
        if self.policy_versions.len() > 1 {
            for (batch, sha) in &self.policy_versions {
                s.push_str(&format!("  policy from batch {batch}: sha256 {sha}\n"));
            }
        }
        for e in &self.policy_errors {
            s.push_str(&format!("  policy change refused: {e}\n"));
        }
        for r in &self.rejected {
            s.push_str(&format!("  quarantined {}: {}\n", r.file, r.reason));
        }
        self.render_skipped(&mut s);
        let nwarn: usize = self.warnings.values().map(Vec::len).sum();
        if nwarn > 0 {
            s.push_str(&format!(
                "  {nwarn} warning(s) in {} file(s):\n",
                self.warnings.len()
            ));
            for (f, w) in &self.warnings {
                for w in w {
                    s.push_str(&format!("    {f}: {w}\n"));
                }
            }
        }
        s
    }

    /// One line per skipped object, the first [`SKIPPED_LINES`] of them, then how many more
    /// (the JSON summary lists every one).
    fn render_skipped(&self, s: &mut String) {
        for f in self.skipped.iter().take(SKIPPED_LINES) {
            s.push_str(&format!(
                "  skipped {f}: not a .fit, .tcx or .gpx file (optionally .gz)\n"
            ));
        }
        if self.skipped.len() > SKIPPED_LINES {
            s.push_str(&format!(
                "  skipped {} more files that are not activity files (--json lists them all)\n",
                self.skipped.len() - SKIPPED_LINES
            ));
        }
    }
}
