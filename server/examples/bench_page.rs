//! What the dashboard page weighs: `GET /` with both environments' live status and three hours of
//! seeded metrics (the AWS emulator), in bytes, split into the server-rendered charts (SVG), the
//! hydration data (scripts) and the rest, plain and gzipped; then, when `wrk` is installed, how
//! fast `/` answers 50 connections next to the environments API in the same run (p99 of each and
//! their ratio, two rounds, warm).
//!
//! Needs the emulator's Python (scripts/setup) and, for the load figures, `wrk`. Run:
//! `cargo run --release --example bench_page` (figures in BENCHMARKS.md).

#[path = "support/mod.rs"]
mod support;

use std::io::Write;

/// The bytes of every `<open … </close>` element of `html` (outermost ones).
fn bytes_of(html: &str, open: &str, close: &str) -> usize {
    let mut total = 0;
    let mut rest = html;
    while let Some(start) = rest.find(open) {
        let Some(len) = rest[start..].find(close) else { break };
        total += len + close.len();
        rest = &rest[start + len + close.len()..];
    }
    total
}

fn gzipped(bytes: &[u8]) -> usize {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap().len()
}

fn kb(bytes: usize) -> String {
    format!("{:.1} KB", bytes as f64 / 1000.0)
}

/// The p99 latency `wrk` reports for `url`, in milliseconds, and the requests per second.
fn wrk(url: &str, token: &str) -> Option<(f64, f64)> {
    let auth = format!("Authorization: Bearer {token}");
    let out = std::process::Command::new("wrk").args(["-t2", "-c50", "-d8s", "--latency", "-H", &auth, url]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let p99 = text.lines().find_map(|l| l.trim().strip_prefix("99%"))?.trim();
    let ms = if let Some(us) = p99.strip_suffix("us") {
        us.parse::<f64>().ok()? / 1000.0
    } else if let Some(ms) = p99.strip_suffix("ms") {
        ms.parse().ok()?
    } else {
        p99.strip_suffix('s')?.parse::<f64>().ok()? * 1000.0
    };
    let rate = text.lines().find_map(|l| l.strip_prefix("Requests/sec:"))?.trim().parse().ok()?;
    Some((ms, rate))
}

#[tokio::main]
async fn main() {
    let (_emulator, aws) = support::emulator();
    let dir = tempfile::tempdir().unwrap();
    let token = support::token(dir.path(), &aws, "viewer");
    let (_server, url) = support::serve(dir.path(), &aws);
    let client = reqwest::Client::new();
    for range in ["3h", "7d"] {
        let res = client.get(format!("{url}/?range={range}")).bearer_auth(&token).send().await.unwrap();
        assert!(res.status().is_success());
        let html = res.text().await.unwrap();
        assert!(html.contains("ECS services, live") && html.contains("polyline"), "the page has live data and charts");
        let svg = bytes_of(&html, "<svg", "</svg>");
        let scripts = bytes_of(&html, "<script", "</script>");
        println!(
            "GET /?range={range}: {} ({} gzipped): charts (SVG) {}, scripts {}, the rest {}",
            kb(html.len()),
            kb(gzipped(html.as_bytes())),
            kb(svg),
            kb(scripts),
            kb(html.len() - svg - scripts)
        );
    }
    if std::process::Command::new("wrk").arg("--version").output().is_err() {
        println!("wrk is not installed (apt-get install wrk): no load figures");
        return;
    }
    for round in 1..=2 {
        let page = wrk(&format!("{url}/?range=3h"), &token).expect("wrk measured the page");
        let api = wrk(&format!("{url}/api/v1/environments"), &token).expect("wrk measured the API");
        println!(
            "round {round}, 50 connections: `/` p99 {:.1} ms ({:.0} req/s), /api/v1/environments p99 {:.1} ms ({:.0} req/s): {:.1} ×",
            page.0, page.1, api.0, api.1, page.0 / api.0
        );
    }
}
