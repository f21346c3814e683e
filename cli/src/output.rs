//! Output: the original's log lines on stdout (`[<UTC date>] [info] [<tool>] [<jobid>] [missing] {...}`), or
//! one JSON object per event with `--json`; errors and progress go to stderr.

use std::io::Write;

use ddbrep_engine::time::Millis;

/// How events are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The original's bracketed log lines.
    Log,
    /// One JSON object per line.
    Json,
}

/// Where a tool's events go.
pub struct Output<W: Write> {
    out: W,
    format: Format,
    tool: &'static str,
    jobid: String,
}

impl<W: Write> Output<W> {
    /// An output for `tool` (its original name, e.g. `diff-tables`) and job id.
    pub fn new(out: W, format: Format, tool: &'static str, jobid: impl Into<String>) -> Output<W> {
        Output {
            out,
            format,
            tool,
            jobid: jobid.into(),
        }
    }

    /// The log prefix at `now`: `[Wed, 25 Nov 2026 07:06:40 GMT] [info] [diff-tables] [0123456789abcdef]`,
    /// the original's fastlog template with JavaScript's `toUTCString()` date.
    pub fn prefix(&self, now: Millis, level: &str) -> String {
        format!(
            "[{}] [{level}] [{}] [{}]",
            now.to_http_date(),
            self.tool,
            self.jobid
        )
    }

    /// Prints one event: `tag` is the bracketed word scripts match (`missing`, `discrepancies`, …), `text` the
    /// rest of the log line, `json` the same event for `--json`.
    pub fn event(
        &mut self,
        now: Millis,
        tag: &str,
        text: &str,
        json: serde_json::Value,
    ) -> std::io::Result<()> {
        match self.format {
            Format::Log => writeln!(self.out, "{} [{tag}] {text}", self.prefix(now, "info")),
            Format::Json => {
                let mut object = serde_json::Map::new();
                object.insert("event".into(), serde_json::Value::String(tag.into()));
                object.insert("time".into(), serde_json::Value::String(now.to_rfc3339()));
                object.insert("tool".into(), serde_json::Value::String(self.tool.into()));
                object.insert("jobid".into(), serde_json::Value::String(self.jobid.clone()));
                if let serde_json::Value::Object(fields) = json {
                    object.extend(fields);
                }
                writeln!(self.out, "{}", serde_json::Value::Object(object))
            }
        }
    }

    /// Whether events print as JSON.
    pub fn is_json(&self) -> bool {
        self.format == Format::Json
    }

    /// A `[progress]` line, unless a progress bar shows the same on stderr (`live_bar`).
    pub fn progress(
        &mut self,
        now: Millis,
        text: &str,
        json: serde_json::Value,
        live_bar: bool,
    ) -> std::io::Result<()> {
        if live_bar {
            return Ok(());
        }
        self.event(now, "progress", text, json)
    }

    /// The final summary: one `{"event":"summary",…}` object with `--json`; nothing in log form (the
    /// tools' own last lines say it there).
    pub fn summary(&mut self, now: Millis, json: serde_json::Value) -> std::io::Result<()> {
        if self.format == Format::Json {
            self.event(now, "summary", "", json)?;
        }
        self.out.flush()
    }

    /// A log line without a bracketed tag (`[date] [info] [tool] [jobid] text`); a JSON event `tag`
    /// otherwise.
    pub fn line(
        &mut self,
        now: Millis,
        tag: &str,
        text: &str,
        json: serde_json::Value,
    ) -> std::io::Result<()> {
        match self.format {
            Format::Log => writeln!(self.out, "{} {text}", self.prefix(now, "info")),
            Format::Json => self.event(now, tag, text, json),
        }
    }

    /// The writer, for tools whose output is a document rather than events.
    pub fn writer(&mut self) -> &mut W {
        &mut self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_carry_the_originals_prefix() {
        let mut out = Output::new(Vec::new(), Format::Log, "diff-tables", "0123456789abcdef");
        out.event(
            Millis(1_795_591_600_180),
            "missing",
            r#"{"hash":"hash1","range":"range1"}"#,
            serde_json::json!({}),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out.out).unwrap(),
            "[Wed, 25 Nov 2026 07:26:40 GMT] [info] [diff-tables] [0123456789abcdef] [missing] {\"hash\":\"hash1\",\"range\":\"range1\"}\n"
        );
    }

    #[test]
    fn json_events_are_one_object_per_line() {
        let mut out = Output::new(Vec::new(), Format::Json, "diff-tables", "j");
        out.event(Millis(0), "discrepancies", "4", serde_json::json!({"count": 4}))
            .unwrap();
        let line: serde_json::Value = serde_json::from_slice(&out.out).unwrap();
        assert_eq!(line["event"], "discrepancies");
        assert_eq!(line["count"], 4);
        assert_eq!(line["time"], "1970-01-01T00:00:00.000Z");
    }
}
