//! The file source's options, with Spark's names, values and defaults.

use std::time::Duration;

/// Input bytes per batch when neither `maxFilesPerTrigger` nor `maxBytesPerTrigger` is set.
pub const DEFAULT_MAX_BYTES_PER_TRIGGER: u64 = 32 * 1024 * 1024;

/// What `cleanSource` does with a batch's files after it commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CleanSource {
    /// Leave them (`off`).
    #[default]
    Off,
    /// Move them under `sourceArchiveDir` (`archive`).
    Archive,
    /// Delete them (`delete`).
    Delete,
}

/// The file source's options (see the module docs for names and defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct FileSourceOptions {
    /// `maxFilesPerTrigger`.
    pub max_files_per_trigger: Option<usize>,
    /// `maxBytesPerTrigger`, bytes.
    pub max_bytes_per_trigger: Option<u64>,
    /// `latestFirst`.
    pub latest_first: bool,
    /// `maxFileAge`.
    pub max_file_age: Duration,
    /// `fileNameOnly`.
    pub file_name_only: bool,
    /// `cleanSource`.
    pub clean_source: CleanSource,
    /// `sourceArchiveDir` (path or URL).
    pub source_archive_dir: Option<String>,
}

impl Default for FileSourceOptions {
    fn default() -> Self {
        Self {
            max_files_per_trigger: None,
            max_bytes_per_trigger: None,
            latest_first: false,
            max_file_age: Duration::from_secs(7 * 86_400),
            file_name_only: false,
            clean_source: CleanSource::Off,
            source_archive_dir: None,
        }
    }
}

/// The option names the file source knows, as Spark spells them.
pub const OPTION_NAMES: &[&str] = &[
    "maxFilesPerTrigger",
    "maxBytesPerTrigger",
    "latestFirst",
    "maxFileAge",
    "fileNameOnly",
    "cleanSource",
    "sourceArchiveDir",
];

impl FileSourceOptions {
    /// Sets option `name` (any case) to `value`. Returns `Ok(false)` for a name that is not
    /// a file source option.
    ///
    /// # Errors
    /// A value that is not valid for the option, naming both.
    pub fn set(&mut self, name: &str, value: &str) -> Result<bool, String> {
        let bad = |what: &str| format!("option {name}={value}: {what}");
        match name.to_ascii_lowercase().as_str() {
            "maxfilespertrigger" => {
                self.max_files_per_trigger = Some(
                    value
                        .parse()
                        .ok()
                        .filter(|&n: &usize| n > 0)
                        .ok_or_else(|| bad("expected a positive number of files"))?,
                )
            }
            "maxbytespertrigger" => {
                self.max_bytes_per_trigger = Some(
                    parse_bytes(value)
                        .filter(|&n| n > 0)
                        .ok_or_else(|| bad("expected a positive size (bytes, or 64k, 32m, 1g)"))?,
                )
            }
            "latestfirst" => {
                self.latest_first =
                    parse_bool(value).ok_or_else(|| bad("expected true or false"))?
            }
            "filenameonly" => {
                self.file_name_only =
                    parse_bool(value).ok_or_else(|| bad("expected true or false"))?
            }
            "maxfileage" => {
                self.max_file_age = parse_duration(value)
                    .ok_or_else(|| bad("expected a duration such as 7d, 12h, 30m, 10s, 500ms"))?
            }
            "cleansource" => {
                self.clean_source = match value.to_ascii_lowercase().as_str() {
                    "off" => CleanSource::Off,
                    "archive" => CleanSource::Archive,
                    "delete" => CleanSource::Delete,
                    _ => return Err(bad("expected off, archive or delete")),
                }
            }
            "sourcearchivedir" => self.source_archive_dir = Some(value.to_string()),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks the combination of options (Spark's rules).
    ///
    /// # Errors
    /// Both limits set; `cleanSource=archive` without `sourceArchiveDir`.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_files_per_trigger.is_some() && self.max_bytes_per_trigger.is_some() {
            return Err(
                "options maxFilesPerTrigger and maxBytesPerTrigger cannot be set together".into(),
            );
        }
        if self.clean_source == CleanSource::Archive && self.source_archive_dir.is_none() {
            return Err("option cleanSource=archive needs sourceArchiveDir".into());
        }
        Ok(())
    }
}

/// Parses Spark-style durations: a number with a unit `ms`, `s`, `m`/`min`, `h`, `d` (also
/// spelled out: `seconds`, `minutes`, …), a space allowed; a bare number is milliseconds
/// (Spark's `timeStringAsMs`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
    let ms = match unit.trim() {
        "" | "ms" | "millisecond" | "milliseconds" => 1.0,
        "s" | "sec" | "secs" | "second" | "seconds" => 1e3,
        "m" | "min" | "mins" | "minute" | "minutes" => 60e3,
        "h" | "hour" | "hours" => 3600e3,
        "d" | "day" | "days" => 86_400e3,
        _ => return None,
    };
    Some(Duration::from_millis((n * ms).round() as u64))
}

pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Bytes, optionally with a binary suffix `k`, `m`, `g` (`kb`, `mb`, `gb`).
pub(crate) fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1u64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}
