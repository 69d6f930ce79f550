//! JSON answers that repeat are compressed once. Between two refreshes of the live data (30 s by
//! default) every open dashboard and every script polling the API gets the same bytes; gzip made
//! per request cost more than everything else in those answers together (a 36 KB metrics answer:
//! about 1 ms of CPU each, 1,800 answers/s instead of 33,000). This layer sits inside tower-http's
//! compression, which leaves alone what already carries a `Content-Encoding` and compresses the
//! rest (pages, streams) as before.

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Smaller answers are not worth remembering (tower-http still compresses them).
const MIN_BYTES: u64 = 1024;
/// Larger answers are compressed per request, as before, rather than crowding out the rest.
const MAX_BYTES: u64 = 1024 * 1024;
/// What the remembered answers may take in memory, originals and compressed together.
const BUDGET_BYTES: usize = 8 * 1024 * 1024;

/// Recently compressed answers: each original with its gzip, newest first.
#[derive(Default)]
pub struct CompressedAnswers {
    entries: Mutex<VecDeque<(Bytes, Bytes)>>,
}

impl CompressedAnswers {
    /// `body` compressed with gzip, made once for as long as the same bytes keep being answered.
    pub fn gzip(&self, body: &Bytes) -> Bytes {
        if let Some(known) = self.lookup(body) {
            return known;
        }
        // Compressed outside the lock: other answers are served meanwhile.
        let compressed = gzip(body);
        let mut entries = self.entries.lock().expect("compression cache lock");
        entries.push_front((body.clone(), compressed.clone()));
        let mut total: usize = entries.iter().map(|(a, b)| a.len() + b.len()).sum();
        while total > BUDGET_BYTES {
            let Some((a, b)) = entries.pop_back() else { break };
            total -= a.len() + b.len();
        }
        compressed
    }

    fn lookup(&self, body: &Bytes) -> Option<Bytes> {
        let entries = self.entries.lock().expect("compression cache lock");
        // Comparing lengths first makes a miss cheap; an equal length is compared in full, so
        // two different answers can never share a compressed body.
        entries.iter().find(|(original, _)| original.len() == body.len() && original == body).map(|(_, gz)| gz.clone())
    }
}

fn gzip(body: &[u8]) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::default());
    encoder.write_all(body).expect("writing to memory");
    Bytes::from(encoder.finish().expect("writing to memory"))
}

/// Whether the client takes gzip: named with a non-zero quality, or `*` without gzip refused.
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut star = false;
    for value in headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()) {
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or_default().trim();
            let quality = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                return quality > 0.0;
            }
            if coding == "*" {
                star = quality > 0.0;
            }
        }
    }
    star
}

fn is_repeatable_json(response: &Response) -> bool {
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    let plain = !response.headers().contains_key(header::CONTENT_ENCODING);
    // A secret's value or a state file: held nowhere, this cache included.
    let storable = !response
        .headers()
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|d| d.trim().eq_ignore_ascii_case("no-store") || d.trim().eq_ignore_ascii_case("private")));
    // Only whole bodies of known size: a stream is never held back to be compressed.
    let whole = response.body().size_hint().exact().is_some_and(|size| (MIN_BYTES..=MAX_BYTES).contains(&size));
    response.status() == StatusCode::OK && json && plain && whole && storable
}

pub async fn compress_repeated(State(answers): State<Arc<CompressedAnswers>>, req: Request, next: Next) -> Response {
    let gzip_ok = accepts_gzip(req.headers());
    let response = next.run(req).await;
    if !gzip_ok || !is_repeatable_json(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BYTES as usize).await {
        Ok(body) => body,
        Err(e) => {
            tracing::error!("could not read an answer to compress it: {e}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let compressed = answers.gzip(&body);
    parts.headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(compressed.len()));
    if !parts.headers.get_all(header::VARY).iter().any(|v| v.as_bytes().eq_ignore_ascii_case(b"accept-encoding")) {
        parts.headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    Response::from_parts(parts, Body::from(compressed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &str) -> HeaderMap {
        HeaderMap::from_iter([(header::ACCEPT_ENCODING, HeaderValue::from_str(accept).unwrap())])
    }

    #[test]
    fn gzip_is_taken_when_named_or_covered_by_a_star() {
        assert!(accepts_gzip(&headers("gzip, deflate, br, zstd")), "what browsers send");
        assert!(accepts_gzip(&headers("br;q=1.0, gzip;q=0.8")));
        assert!(accepts_gzip(&headers("*")));
        assert!(!accepts_gzip(&headers("gzip;q=0")), "refused by quality 0");
        assert!(!accepts_gzip(&headers("*, gzip;q=0")));
        assert!(!accepts_gzip(&headers("br, identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn the_same_answer_is_compressed_once_and_a_different_one_again() {
        let answers = CompressedAnswers::default();
        let body = Bytes::from(format!("[{}]", vec!["{\"cpu\":12.5}"; 500].join(",")));
        let first = answers.gzip(&body);
        let again = answers.gzip(&Bytes::copy_from_slice(&body));
        assert_eq!(first.as_ptr(), again.as_ptr(), "the stored compression is answered, not a new one");
        let mut plain = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&again[..]), &mut plain).unwrap();
        assert_eq!(plain.as_bytes(), &body[..]);

        let mut other = body.to_vec();
        other[10] = b'7';
        let different = answers.gzip(&Bytes::from(other));
        assert_ne!(different, first, "same length, other bytes: compressed on its own");
    }

    #[test]
    fn memory_stays_within_its_budget() {
        let answers = CompressedAnswers::default();
        for i in 0..40u8 {
            // Incompressible-ish, 512 KB each: 40 would far exceed the budget.
            let body: Vec<u8> = (0..512 * 1024u32).map(|n| (n.wrapping_mul(2_654_435_761) >> 13) as u8 ^ i).collect();
            answers.gzip(&Bytes::from(body));
        }
        let entries = answers.entries.lock().unwrap();
        let total: usize = entries.iter().map(|(a, b)| a.len() + b.len()).sum();
        assert!(total <= BUDGET_BYTES, "{total} bytes kept");
        assert!(!entries.is_empty());
    }

    #[test]
    fn an_answer_no_cache_may_keep_is_not_kept() {
        let json = |cache_control: Option<&str>| {
            let mut response = Response::new(Body::from(vec![b' '; 4096]));
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if let Some(value) = cache_control {
                response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_str(value).unwrap());
            }
            response
        };
        assert!(is_repeatable_json(&json(None)));
        assert!(is_repeatable_json(&json(Some("max-age=30"))));
        assert!(!is_repeatable_json(&json(Some("no-store"))), "a revealed value");
        assert!(!is_repeatable_json(&json(Some("private, max-age=0"))));
    }
}
