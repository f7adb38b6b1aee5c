//! `[job]`: how `datamin run` runs this policy — its trigger and its source and sink options
//! (Spark's names), so that a deployment is one file. The command line wins over it.
//!
//! ```toml
//! [job]
//! trigger = "processing-time=1min"
//!
//! [job.options]
//! maxFilesPerTrigger = 500
//! cleanSource = "archive"
//! sourceArchiveDir = "s3://raw/archive/"
//! maxRecordsPerFile = 1000000
//! ```
//!
//! The section is read when a run starts; a policy reloaded while the run goes on changes
//! the rules, not the job.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::model::PolicyError;
use super::validate::Ctx;
use crate::runner::{SINK_OPTION_NAMES, Trigger};
use crate::source::file_stream::{FileSourceOptions, OPTION_NAMES};
use crate::source::kafka::{KafkaSourceOptions, OPTION_NAMES as KAFKA_OPTION_NAMES};

/// The validated `[job]` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JobConfig {
    /// `trigger`, if given.
    #[serde(skip)]
    pub trigger: Option<Trigger>,
    /// `[job.options]` as `(name, value)` pairs, values as text, sorted by name.
    pub options: Vec<(String, String)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawJob {
    trigger: Option<Spanned<String>>,
    #[serde(default)]
    options: std::collections::BTreeMap<Spanned<String>, Spanned<toml::Value>>,
}

/// Checks `[job]`: a known trigger, known option names with valid values.
pub(crate) fn validate_job(cx: &Ctx<'_>, j: RawJob) -> Result<JobConfig, PolicyError> {
    let trigger = match j.trigger {
        None => None,
        Some(t) => Some(
            t.get_ref()
                .parse::<Trigger>()
                .map_err(|e| cx.err(Some(t.span()), "job.trigger", e))?,
        ),
    };
    let mut source = FileSourceOptions::default();
    let mut kafka = KafkaSourceOptions::default();
    let mut options = Vec::new();
    for (name, v) in j.options {
        let span = Some(v.span());
        let (name, v) = (name.into_inner(), v.into_inner());
        let key = format!("job.options.{name}");
        let value = match &v {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                v.to_string()
            }
            other => {
                return Err(cx.err(
                    span.clone(),
                    &key,
                    format!(
                        "expected a string, number or boolean, got a {}",
                        other.type_str()
                    ),
                ));
            }
        };
        let known = if SINK_OPTION_NAMES
            .iter()
            .any(|n| n.eq_ignore_ascii_case(&name))
        {
            value.parse::<u64>().map(|_| true).map_err(|_| {
                cx.err(
                    span.clone(),
                    &key,
                    "expected a number of rows (0: no limit)",
                )
            })?
        } else {
            source
                .set(&name, &value)
                .map_err(|e| cx.err(span.clone(), &key, e))?
                || kafka
                    .set(&name, &value)
                    .map_err(|e| cx.err(span.clone(), &key, e))?
        };
        if !known {
            return Err(cx.err(
                span,
                &key,
                format!(
                    "unknown option; known: {}, kafka.*",
                    OPTION_NAMES
                        .iter()
                        .chain(KAFKA_OPTION_NAMES)
                        .chain(SINK_OPTION_NAMES)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        options.push((name, value));
    }
    source
        .validate()
        .map_err(|e| cx.err(None, "job.options", e))?;
    Ok(JobConfig { trigger, options })
}
