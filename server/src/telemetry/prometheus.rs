//! `/metrics` in Prometheus' text format. Two kinds of figures:
//! - what this process measured (HTTP answers, AWS calls, live-cache lookups), through the
//!   `metrics` facade: per process, to be summed over replicas;
//! - what the database knows (runs, notification deliveries), read at each scrape: every replica
//!   reports the same estate-wide figures, to be aggregated with `max`, not summed.

use crate::db::{Db, DbResult};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::fmt::Write;
use std::sync::OnceLock;
use std::time::Duration;

/// HTTP answers and AWS calls: a millisecond to ten seconds.
const REQUEST_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Runs, from being asked for to their end (approval waits included): seconds to a day.
const RUN_BUCKETS: &[f64] = &[10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 4.0 * 3600.0, 86400.0];

/// The process-wide recorder, installed on first use. `None` when another recorder was
/// installed first (an embedding program's): the facade's figures then go there.
pub fn recorder() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".into()), REQUEST_BUCKETS)
                .and_then(|b| b.install_recorder());
            match installed {
                Ok(handle) => {
                    describe();
                    let upkeep = handle.clone();
                    // Histogram samples are buffered until folded into buckets: without a scrape
                    // they would pile up, so they are folded every few seconds regardless.
                    let _ = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    });
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!("Prometheus metrics are not recorded here: {e}");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!("zelly_http_requests_total", "HTTP answers, by method, route template and status");
    describe_histogram!("zelly_http_request_duration_seconds", Unit::Seconds, "Time to answer (to the headers of a stream)");
    describe_counter!("zelly_aws_requests_total", "AWS SDK calls, by service, operation, region and outcome");
    describe_histogram!("zelly_aws_request_duration_seconds", Unit::Seconds, "AWS SDK calls' time, retries included");
    describe_counter!("zelly_live_cache_lookups_total", "Live-data lookups (ECS, CloudWatch) by cache and result: hit, stale (answered, refreshed behind), miss");
    describe_counter!("zelly_dashboard_views_total", "Views of the dashboard (`/`) by how they were answered: remembered (the page rendered for the same data) or rendered");
    describe_gauge!("zelly_build_info", "The running build");
    describe_gauge!("zelly_log_streams_open", "Live log streams this process serves now");
    describe_gauge!("zelly_log_stream_readers", "Runs whose live log this process reads for its streams (one reader per run)");
    metrics::gauge!("zelly_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// One HTTP answer. `route` is the matched route template (`/api/v1/runs/{id}`), never a path.
pub fn record_request(method: &'static str, route: String, status: u16, seconds: f64) {
    let labels = [("method", method.to_string()), ("route", route), ("status", status.to_string())];
    metrics::counter!("zelly_http_requests_total", &labels).increment(1);
    metrics::histogram!("zelly_http_request_duration_seconds", &labels).record(seconds);
}

/// One lookup in a live-data cache: `hit`, `stale` or `miss`.
pub fn record_cache_lookup(cache: &'static str, result: &'static str) {
    metrics::counter!("zelly_live_cache_lookups_total", "cache" => cache, "result" => result).increment(1);
}

/// One view of the dashboard: `remembered` or `rendered`.
pub fn record_dashboard_view(answer: &'static str) {
    metrics::counter!("zelly_dashboard_views_total", "answer" => answer).increment(1);
}

/// The whole exposition: this process's figures, then the database's.
pub async fn render(db: &Db, environments: &[String]) -> DbResult<String> {
    let mut text = recorder().map(|h| h.render()).unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let runs = db.run_figures().await?;
    let deliveries = db.destination_stats().await?;
    write_runs(&mut text, environments, &runs);
    let pending: fn(&crate::db::notifications::DestinationStats) -> i64 = |d| d.pending;
    let failed: fn(&crate::db::notifications::DestinationStats) -> i64 = |d| d.failed;
    for (name, help, count) in [
        ("zelly_notifications_pending", "Notification deliveries waiting to be sent or retried, by destination", pending),
        ("zelly_notifications_failed", "Notification deliveries that gave up (kept for notifications.keep_days), by destination", failed),
    ] {
        family(&mut text, name, "gauge", help);
        for d in &deliveries {
            sample(&mut text, name, &[("destination", &d.destination)], count(d) as f64);
        }
    }
    Ok(text)
}

fn write_runs(text: &mut String, environments: &[String], runs: &crate::db::runs::RunFigures) {
    family(text, "zelly_runs_total", "counter", "Runs that ended, by environment, kind and final status");
    for (key, ended) in &runs.ended {
        sample(text, "zelly_runs_total", &key.labels(), ended.durations.len() as f64);
    }
    family(text, "zelly_run_duration_seconds", "histogram", "Runs from being asked for to their end, approval waits included");
    for (key, ended) in &runs.ended {
        let labels = key.labels();
        for bound in RUN_BUCKETS {
            let within = ended.durations.iter().filter(|d| **d <= *bound).count();
            let le = bound.to_string();
            sample(text, "zelly_run_duration_seconds_bucket", &[&labels[..], &[("le", &le)]].concat(), within as f64);
        }
        let count = ended.durations.len() as f64;
        sample(text, "zelly_run_duration_seconds_bucket", &[&labels[..], &[("le", "+Inf")]].concat(), count);
        sample(text, "zelly_run_duration_seconds_sum", &labels, ended.durations.iter().sum());
        sample(text, "zelly_run_duration_seconds_count", &labels, count);
    }
    for (name, help, counts) in [
        ("zelly_runs_queued", "Runs waiting for a worker, by environment", &runs.queued),
        ("zelly_runs_active", "Runs holding their environment (planning, awaiting approval, applying), by environment", &runs.active),
    ] {
        family(text, name, "gauge", help);
        for env in environments {
            sample(text, name, &[("environment", env)], counts.get(env).copied().unwrap_or(0) as f64);
        }
    }
}

fn family(text: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(text: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    text.push_str(name);
    if !labels.is_empty() {
        text.push('{');
        for (i, (key, value)) in labels.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            let _ = write!(text, "{key}=\"{}\"", escape(value));
        }
        text.push('}');
    }
    let _ = writeln!(text, " {value}");
}

/// Label values escape backslashes, quotes and line breaks.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_cannot_break_out_of_their_quotes() {
        let mut text = String::new();
        sample(&mut text, "m", &[("destination", "a\"b\\c\nd")], 2.0);
        assert_eq!(text, "m{destination=\"a\\\"b\\\\c\\nd\"} 2\n");
    }
}
