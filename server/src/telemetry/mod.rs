//! What the server tells the people who run it about itself: its log lines (text or JSON) and
//! its Prometheus metrics (requests, runs, AWS calls, caches, notifications).

pub mod aws;
pub mod logs;
pub mod prometheus;

/// `text` without control characters, for a log line or a message: a header or query value
/// must not be able to forge a line of its own.
pub fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_do_not_reach_a_log_line() {
        assert_eq!(super::printable("cancelled\n2026-12-01T00:00:00Z INFO forged\r\u{1b}[2J"), "cancelled2026-12-01T00:00:00Z INFO forged[2J");
    }
}
