//! What the dashboard page weighs: `GET /` with both environments' live status and three hours of
//! seeded metrics (the AWS emulator), in bytes, split into the server-rendered charts (SVG), the
//! hydration data (scripts) and the rest, plain and gzipped.
//!
//! Needs the emulator's Python (scripts/setup). Run:
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
            "GET /?range={range}: {} ({} gzipped): charts (SVG) {}, scripts (hydration data) {}, the rest {}",
            kb(html.len()),
            kb(gzipped(html.as_bytes())),
            kb(svg),
            kb(scripts),
            kb(html.len() - svg - scripts)
        );
    }
}
