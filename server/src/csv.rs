//! CSV for spreadsheets (RFC 4180): the cost review and the audit log export through it.

/// Rows separated by CRLF; fields quoted when they need it.
#[derive(Default)]
pub struct Csv(String);

impl Csv {
    pub fn row<S: AsRef<str>>(&mut self, fields: impl IntoIterator<Item = S>) {
        let fields: Vec<String> = fields.into_iter().map(|f| field(f.as_ref())).collect();
        self.0.push_str(&fields.join(","));
        self.0.push_str("\r\n");
    }

    pub fn finish(self) -> String {
        self.0
    }
}

/// Text a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) is prefixed with `'`:
/// names, comments and targets come from users and configuration.
fn field(value: &str) -> String {
    let numeric = value.parse::<f64>().is_ok();
    let value = if !numeric && value.starts_with(['=', '+', '-', '@']) { format!("'{value}") } else { value.to_string() };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a, b"), "\"a, b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("-3.5"), "-3.5");
        let mut csv = Csv::default();
        csv.row(["a", "b,c"]);
        csv.row(["1"]);
        assert_eq!(csv.finish(), "a,\"b,c\"\r\n1\r\n");
    }
}
