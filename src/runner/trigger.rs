//! When micro-batches run: Apache Spark Structured Streaming's triggers.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::source::file_stream::parse_duration;

/// When the runner plans a batch and when it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trigger {
    /// Every file present at start, in as many batches as the per-trigger limits need, then
    /// stop (Spark's `Trigger.AvailableNow`). A batch run.
    #[default]
    AvailableNow,
    /// One batch with every new file, ignoring the per-trigger limits, then stop (Spark's
    /// deprecated `Trigger.Once`; prefer `available-now`, whose memory is bounded).
    Once,
    /// A batch every interval, until stopped (Spark's `Trigger.ProcessingTime`). A batch that
    /// takes longer than the interval is followed at once by the next; with no new files
    /// the runner waits for the next tick. `processing-time=0` runs batches back to back.
    ProcessingTime(Duration),
}

impl Trigger {
    /// Whether the runner stops by itself (`available-now`, `once`).
    pub fn is_bounded(self) -> bool {
        !matches!(self, Trigger::ProcessingTime(_))
    }
}

impl FromStr for Trigger {
    type Err = String;

    /// `available-now` (or `availableNow`), `once`, `processing-time=<interval>` (or
    /// `processingTime=<interval>`; intervals such as `30s`, `5 minutes`, `500ms`).
    fn from_str(s: &str) -> Result<Self, String> {
        let norm = |t: &str| t.trim().to_ascii_lowercase().replace(['-', '_'], "");
        let (name, arg) = match s.split_once('=') {
            Some((n, a)) => (norm(n), Some(a)),
            None => (norm(s), None),
        };
        match (name.as_str(), arg) {
            ("availablenow", None) => Ok(Trigger::AvailableNow),
            ("once", None) => Ok(Trigger::Once),
            ("processingtime", Some(a)) => parse_duration(a)
                .map(Trigger::ProcessingTime)
                .ok_or_else(|| format!("trigger {s}: bad interval {a:?} (e.g. 30s, 5min)")),
            _ => Err(format!(
                "unknown trigger {s:?}: expected available-now, once or processing-time=<interval>"
            )),
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::AvailableNow => f.write_str("available-now"),
            Trigger::Once => f.write_str("once"),
            Trigger::ProcessingTime(d) => write!(f, "processing-time={}ms", d.as_millis()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spark_trigger_names() {
        assert_eq!("available-now".parse(), Ok(Trigger::AvailableNow));
        assert_eq!("availableNow".parse(), Ok(Trigger::AvailableNow));
        assert_eq!("once".parse(), Ok(Trigger::Once));
        assert_eq!(
            "processing-time=30s".parse(),
            Ok(Trigger::ProcessingTime(Duration::from_secs(30)))
        );
        assert_eq!(
            "processingTime=2 minutes".parse(),
            Ok(Trigger::ProcessingTime(Duration::from_secs(120)))
        );
        assert!("continuous".parse::<Trigger>().is_err());
        assert!("processing-time=soon".parse::<Trigger>().is_err());
    }
}
