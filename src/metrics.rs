//! Prometheus metrics of the micro-batch runner (OpenMetrics text, `prometheus-client`),
//! served over HTTP at `GET /metrics` by [`Metrics::serve`] (`datamin run --metrics-addr`).
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `datamin_batches_total` | counter | | micro-batches committed |
//! | `datamin_batch_duration_seconds` | histogram | | wall time of a batch, planning to commit (s) |
//! | `datamin_last_committed_batch` | gauge | | id of the last committed batch |
//! | `datamin_files_total` | counter | `result` = `decoded`, `quarantined` | input files taken |
//! | `datamin_files_waiting` | gauge | | new files seen at the last trigger but left for later batches |
//! | `datamin_files_skipped` | gauge | | objects under the input that are not activity files (not `.fit`/`.tcx`/`.gpx`, optionally `.gz`), never read |
//! | `datamin_messages_total` | counter | `result` (`decoded`, `rejected`) | Kafka messages taken |
//! | `datamin_input_bytes_total` | counter | | bytes read from the input |
//! | `datamin_rows_in_total` | counter | `table` | rows decoded |
//! | `datamin_rows_out_total` | counter | `table` | rows written |
//! | `datamin_rows_removed_total` | counter | `table`, `rule` | rows removed (merged: `aggregate`) by each row rule |
//! | `datamin_privacy_zone_records_hidden_total` | counter | | records the privacy zone hid |
//! | `datamin_policy_reloads_total` | counter | | policy versions taken while running |
//! | `datamin_policy_errors_total` | counter | | policy changes refused as invalid |

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// The runner's metrics (see the module docs). Cheap to clone: clones share the values.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub(crate) batches: Counter,
    pub(crate) batch_duration: Histogram,
    pub(crate) last_batch: Gauge,
    pub(crate) files: Family<Labels, Counter>,
    pub(crate) files_waiting: Gauge,
    pub(crate) files_skipped: Gauge,
    pub(crate) messages: Family<Labels, Counter>,
    pub(crate) input_bytes: Counter,
    pub(crate) rows_in: Family<Labels, Counter>,
    pub(crate) rows_out: Family<Labels, Counter>,
    pub(crate) rows_removed: Family<Labels, Counter>,
    pub(crate) zone_hidden: Counter,
    pub(crate) policy_reloads: Counter,
    pub(crate) policy_errors: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric, all zero.
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("datamin");
        let batches = Counter::default();
        r.register("batches", "Micro-batches committed", batches.clone());
        // 10 ms … ~5.5 min
        let batch_duration = Histogram::new(exponential_buckets(0.01, 2.0, 16));
        r.register(
            "batch_duration_seconds",
            "Wall time of a batch, from planning to commit, in seconds",
            batch_duration.clone(),
        );
        let last_batch = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
        last_batch.set(-1);
        r.register(
            "last_committed_batch",
            "Id of the last committed batch (-1: none yet)",
            last_batch.clone(),
        );
        let files = Family::<Labels, Counter>::default();
        r.register(
            "files",
            "Input files taken, by result (decoded, quarantined)",
            files.clone(),
        );
        let files_waiting = Gauge::default();
        r.register(
            "files_waiting",
            "New input files seen at the last trigger but left for later batches",
            files_waiting.clone(),
        );
        let files_skipped = Gauge::default();
        r.register(
            "files_skipped",
            "Objects under the input that are not activity files (.fit, .tcx, .gpx, optionally .gz), never read",
            files_skipped.clone(),
        );
        let messages = Family::<Labels, Counter>::default();
        r.register(
            "messages",
            "Kafka messages taken, by result (decoded, rejected)",
            messages.clone(),
        );
        let input_bytes = Counter::<u64, AtomicU64>::default();
        r.register(
            "input_bytes",
            "Bytes read from the input",
            input_bytes.clone(),
        );
        let rows_in = Family::<Labels, Counter>::default();
        r.register("rows_in", "Rows decoded, per table", rows_in.clone());
        let rows_out = Family::<Labels, Counter>::default();
        r.register("rows_out", "Rows written, per table", rows_out.clone());
        let rows_removed = Family::<Labels, Counter>::default();
        r.register(
            "rows_removed",
            "Rows removed (merged by aggregate) by each row rule, per table",
            rows_removed.clone(),
        );
        let zone_hidden = Counter::default();
        r.register(
            "privacy_zone_records_hidden",
            "Records hidden by the privacy zone",
            zone_hidden.clone(),
        );
        let policy_reloads = Counter::default();
        r.register(
            "policy_reloads",
            "Policy versions taken while running",
            policy_reloads.clone(),
        );
        let policy_errors = Counter::default();
        r.register(
            "policy_errors",
            "Policy changes refused as invalid",
            policy_errors.clone(),
        );
        Self {
            registry: Arc::new(r),
            batches,
            batch_duration,
            last_batch,
            files,
            files_waiting,
            files_skipped,
            messages,
            input_bytes,
            rows_in,
            rows_out,
            rows_removed,
            zone_hidden,
            policy_reloads,
            policy_errors,
        }
    }

    /// The metrics in the OpenMetrics text format (what `GET /metrics` returns).
    pub fn render(&self) -> String {
        let mut s = String::new();
        encode(&mut s, &self.registry).expect("writing to a String does not fail");
        s
    }

    /// Serves `GET /metrics` on `addr` (port 0: any free port) from a background thread
    /// until the returned server is dropped.
    ///
    /// # Errors
    /// The address cannot be bound.
    pub fn serve(&self, addr: SocketAddr) -> crate::Result<MetricsServer> {
        let server = tiny_http::Server::http(addr)
            .map_err(|e| crate::Error::Invalid(format!("--metrics-addr {addr}: {e}")))?;
        let server = Arc::new(server);
        let local = server.server_addr().to_ip().ok_or_else(|| {
            crate::Error::Invalid(format!("--metrics-addr {addr}: not an IP address"))
        })?;
        let (srv, metrics) = (Arc::clone(&server), self.clone());
        let thread = std::thread::Builder::new()
            .name("datamin-metrics".into())
            .spawn(move || {
                for req in srv.incoming_requests() {
                    let path = req.url().split('?').next().unwrap_or_default();
                    let resp = if path == "/metrics" {
                        let header = tiny_http::Header::from_bytes(
                            "Content-Type",
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )
                        .expect("valid header");
                        tiny_http::Response::from_string(metrics.render()).with_header(header)
                    } else {
                        tiny_http::Response::from_string("datamin: metrics are at /metrics\n")
                            .with_status_code(404)
                    };
                    // a client that went away is not our error
                    let _ = req.respond(resp);
                }
            })
            .map_err(|e| crate::Error::Invalid(format!("cannot start the metrics thread: {e}")))?;
        Ok(MetricsServer {
            server,
            thread: Some(thread),
            addr: local,
        })
    }
}

/// A running metrics endpoint; dropping it stops the server.
pub struct MetricsServer {
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
    addr: SocketAddr,
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl MetricsServer {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn serves_openmetrics_text() {
        let m = Metrics::new();
        m.batches.inc();
        m.rows_in
            .get_or_create(&vec![("table", "records".to_string())])
            .inc_by(146);
        let server = m.serve("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut c = std::net::TcpStream::connect(server.addr()).unwrap();
        c.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut body = String::new();
        c.read_to_string(&mut body).unwrap();
        assert!(body.starts_with("HTTP/1.0 200"), "{body}");
        assert!(body.contains("application/openmetrics-text"));
        assert!(body.contains("datamin_batches_total 1\n"), "{body}");
        assert!(
            body.contains("datamin_rows_in_total{table=\"records\"} 146\n"),
            "{body}"
        );
        assert!(body.contains("datamin_last_committed_batch -1\n"), "{body}");
        assert!(body.ends_with("# EOF\n"));
    }
}
