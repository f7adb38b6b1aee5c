//! The policy a running stream re-reads before every batch ([`PolicySource`]): a valid
//! change takes effect from the next batch, an invalid one is reported once and the last
//! valid policy stays.

use super::summary::RunSummary;
use crate::metrics::Metrics;
use crate::minimizer::Minimizer;

/// A policy location with `--set` overrides, re-read by the runner before every batch: a
/// valid change takes effect from the next batch, an invalid one is logged (with its
/// `file:line:col`) and the last valid version stays.
#[derive(Debug, Clone, Default)]
pub struct PolicySource {
    /// Path or URL of the policy file.
    pub location: String,
    /// `--set PATH=VALUE` overrides, applied in order.
    pub overrides: Vec<(String, String)>,
}

/// Re-reads the policy of `src`: a new minimizer when it changed and is valid; `None` when
/// it did not change or is invalid (reported once per distinct error, in the log and the
/// summary).
pub(super) async fn reload(
    src: &PolicySource,
    active: &Minimizer,
    last_error: &mut Option<String>,
    summary: &mut RunSummary,
    metrics: Option<&Metrics>,
) -> Option<Minimizer> {
    let result = match crate::policy::read_policy_with(&src.location, &src.overrides).await {
        Ok(p) if p.sha256 == active.policy().sha256 => Ok(None),
        Ok(p) => {
            let sha = p.sha256.clone();
            Minimizer::new(p, active.key().cloned())
                .map(|mut m| {
                    m.adopt_zone_anchors(active);
                    Some((m, sha))
                })
                .map_err(|e| format!("{}: {}", src.location, crate::error::engine_message(&e)))
        }
        Err(e) => Err(e.to_string()),
    };
    match result {
        Ok(None) => {
            *last_error = None;
            None
        }
        Ok(Some((m, sha))) => {
            *last_error = None;
            tracing::info!(policy = %src.location, sha256 = %sha, "policy changed: the next batch uses it");
            if let Some(m) = metrics {
                m.policy_reloads.inc();
            }
            Some(m)
        }
        Err(e) => {
            if last_error.as_ref() != Some(&e) {
                tracing::warn!("policy change refused, keeping the last valid policy: {e}");
                summary.policy_errors.push(e.clone());
                if let Some(m) = metrics {
                    m.policy_errors.inc();
                }
                *last_error = Some(e);
            }
            None
        }
    }
}
