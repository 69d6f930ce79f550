//! Replaces sensitive values wherever terraform may print them: terraform hides what it knows is
//! sensitive, but prints a variable not declared `sensitive`, an output wrapped in
//! `nonsensitive()`, or a provisioner's output as it is. Every log line (stored and streamed),
//! every error text and everything kept of the plan goes through here; the rest of each line
//! stays.
//!
//! Besides each whole value, its pieces are masked as terraform may print them: the lines of a
//! multi-line value (an SSH key in a heredoc), the words of a value with spaces (terraform wraps
//! diagnostics at 78 columns, between words), and the value as JSON escapes it.

use aho_corasick::{AhoCorasick, MatchKind};
use serde_json::Value;

pub const MASK: &str = "(sensitive value)";
/// Shorter whole values are not masked: a one- or two-character "secret" would blot out every
/// line of the log while protecting nothing.
const MIN_VALUE: usize = 3;
/// Pieces of a value (lines, words) shorter than this say nothing about it.
const MIN_PIECE: usize = 4;

#[derive(Clone, Default)]
pub struct Scrubber {
    matcher: Option<AhoCorasick>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scrubber({} patterns)", self.matcher.as_ref().map_or(0, |m| m.patterns_len()))
    }
}

impl Scrubber {
    pub fn new<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> Scrubber {
        let mut patterns: Vec<String> = Vec::new();
        for value in values {
            let value = value.as_ref();
            if value.trim().len() < MIN_VALUE {
                continue;
            }
            patterns.push(value.to_string());
            let escaped = Value::String(value.to_string()).to_string();
            let escaped = &escaped[1..escaped.len() - 1];
            if escaped != value {
                patterns.push(escaped.to_string());
            }
            if value.contains(char::is_whitespace) {
                let pieces = value.lines().map(str::trim).chain(value.split_whitespace());
                patterns.extend(pieces.filter(|p| p.len() >= MIN_PIECE).map(str::to_string));
            }
        }
        patterns.sort();
        patterns.dedup();
        if patterns.is_empty() {
            return Scrubber::default();
        }
        // Leftmost-longest: a whole value wins over the words inside it.
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .expect("literal patterns always build");
        Scrubber { matcher: Some(matcher) }
    }

    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    pub fn bytes(&self, line: &[u8]) -> Vec<u8> {
        match &self.matcher {
            Some(m) if m.is_match(line) => {
                let masks = vec![MASK.as_bytes(); m.patterns_len()];
                m.replace_all_bytes(line, &masks)
            }
            _ => line.to_vec(),
        }
    }

    pub fn text(&self, text: &str) -> String {
        match &self.matcher {
            Some(m) if m.is_match(text) => m.replace_all(text, &vec![MASK; m.patterns_len()]),
            _ => text.to_string(),
        }
    }

    /// Every string (and object key) in `value`, scrubbed in place; a number that is a
    /// sensitive value becomes the mask.
    pub fn json(&self, value: &mut Value) {
        if self.is_empty() {
            return;
        }
        match value {
            Value::String(s) => {
                let scrubbed = self.text(s);
                if scrubbed != *s {
                    *s = scrubbed;
                }
            }
            Value::Number(n) => {
                let text = n.to_string();
                if self.text(&text) != text {
                    *value = Value::String(MASK.to_string());
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.json(v)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut v) in entries {
                    self.json(&mut v);
                    map.insert(self.text(&key), v);
                }
            }
            Value::Bool(_) | Value::Null => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_replaced_and_the_rest_of_the_line_stays() {
        let s = Scrubber::new(["tok-ABC123xyz", "hunter2"]);
        assert_eq!(s.text("token = \"tok-ABC123xyz\" and hunter2!"), format!("token = \"{MASK}\" and {MASK}!"));
        assert_eq!(s.bytes(b"\x1b[1mleak\x1b[0m = tok-ABC123xyz\n"), format!("\x1b[1mleak\x1b[0m = {MASK}\n").into_bytes());
        assert_eq!(s.text("nothing here"), "nothing here");
    }

    #[test]
    fn the_pieces_terraform_prints_of_long_values_are_masked_too() {
        let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQyNTUxOQAAACBZ\n-----END OPENSSH PRIVATE KEY-----";
        let s = Scrubber::new([key, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops@zelly"]);
        // A heredoc prints the value line by line.
        assert_eq!(s.text("      b3BlbnNzaC1rZXktdjEAAAAA"), format!("      {MASK}"));
        // A wrapped diagnostic splits a value between words.
        assert_eq!(s.text("│ Output: provisioning with ssh-ed25519"), format!("│ Output: provisioning with {MASK}"));
        assert_eq!(s.text("│ AAAAC3NzaC1lZDI1NTE5 ops@zelly"), format!("│ {MASK} {MASK}"));
        // JSON escapes the newlines.
        let escaped = serde_json::to_string(key).unwrap();
        assert_eq!(s.text(&format!("value: {escaped}")), format!("value: \"{MASK}\""));
    }

    #[test]
    fn trivial_values_do_not_blot_out_the_log() {
        let s = Scrubber::new(["1", "ab", ""]);
        assert!(s.is_empty());
        assert_eq!(s.text("abc 1"), "abc 1");
    }

    #[test]
    fn json_is_scrubbed_everywhere_keys_included() {
        let s = Scrubber::new(["hunter2", "4242"]);
        let mut v = json!({ "a": ["x hunter2 y", 4242, true], "hunter2": { "n": 1 } });
        s.json(&mut v);
        assert_eq!(v, json!({ "a": [format!("x {MASK} y"), MASK, true], MASK: { "n": 1 } }));
    }
}
