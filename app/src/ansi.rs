//! Terminal colors in terraform's output, turned into styled spans. Only SGR sequences
//! (`ESC [ … m`) carry meaning here; every other escape sequence is dropped. The text itself is
//! never markup: the page puts it in text nodes, so `<script>` in a log stays text.

/// Serializable: the live log's island continues in the style the server's part ended in.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Style {
    pub bold: bool,
    pub dim: bool,
    pub underline: bool,
    /// Foreground color 0–7 (red = 1, green = 2, yellow = 3, …), bright variants 8–15.
    pub color: Option<u8>,
}

impl Style {
    /// CSS classes for a span, e.g. `ansi-bold ansi-fg-2`.
    pub fn classes(&self) -> String {
        let mut c = Vec::new();
        if self.bold {
            c.push("ansi-bold".to_string());
        }
        if self.dim {
            c.push("ansi-dim".to_string());
        }
        if self.underline {
            c.push("ansi-underline".to_string());
        }
        if let Some(n) = self.color {
            c.push(format!("ansi-fg-{n}"));
        }
        c.join(" ")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub text: String,
    pub style: Style,
}

/// Splits `input` into runs of text with one style each. `style` carries over between calls,
/// so a log streamed in pieces renders the same as the whole.
pub fn segments(input: &str, style: &mut Style) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    let mut text = String::new();
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            text.push(c);
            continue;
        }
        if !text.is_empty() {
            out.push(Segment { text: std::mem::take(&mut text), style: style.clone() });
        }
        if chars.peek() != Some(&'[') {
            continue;
        }
        chars.next();
        let mut params = String::new();
        let mut last = None;
        for p in chars.by_ref() {
            if p.is_ascii_digit() || p == ';' {
                params.push(p);
            } else {
                last = Some(p);
                break;
            }
        }
        if last == Some('m') {
            apply_sgr(&params, style);
        }
    }
    if !text.is_empty() {
        out.push(Segment { text, style: style.clone() });
    }
    out
}

fn apply_sgr(params: &str, style: &mut Style) {
    let codes: Vec<u16> = if params.is_empty() { vec![0] } else { params.split(';').map(|p| p.parse().unwrap_or(0)).collect() };
    let mut i = 0;
    while i < codes.len() {
        match codes[i] {
            0 => *style = Style::default(),
            1 => style.bold = true,
            2 => style.dim = true,
            4 => style.underline = true,
            22 => {
                style.bold = false;
                style.dim = false;
            }
            24 => style.underline = false,
            30..=37 => style.color = Some((codes[i] - 30) as u8),
            39 => style.color = None,
            90..=97 => style.color = Some((codes[i] - 90 + 8) as u8),
            // 256-color and RGB forms: skip their arguments.
            38 | 48 => i += if codes.get(i + 1) == Some(&5) { 2 } else { 4 },
            _ => {}
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colors_become_styles_and_text_stays_text() {
        let mut style = Style::default();
        let segs = segments("\x1b[1maws_instance.a\x1b[0m: \x1b[32m+ create\x1b[0m <script>", &mut style);
        let pairs: Vec<(&str, String)> = segs.iter().map(|s| (s.text.as_str(), s.style.classes())).collect();
        assert_eq!(
            pairs,
            [("aws_instance.a", "ansi-bold".to_string()), (": ", String::new()), ("+ create", "ansi-fg-2".into()), (" <script>", String::new())]
        );
    }

    #[test]
    fn style_carries_across_pieces_and_other_escapes_are_dropped() {
        let mut style = Style::default();
        segments("\x1b[31;1mError", &mut style);
        let next = segments(" continues\x1b[0m\x1b[2K done", &mut style);
        assert_eq!(next[0].style.classes(), "ansi-bold ansi-fg-1");
        assert_eq!(next[1].text, " done");
        assert_eq!(next[1].style, Style::default());
        let mut style = Style::default();
        assert_eq!(segments("\x1b[38;5;208mx\x1b[91my", &mut style).iter().map(|s| s.style.color).collect::<Vec<_>>(), [None, Some(9)]);
    }
}
