//! The Prometheus text exposition format, version 0.0.4.
//!
//! Written by hand rather than with `prometheus-client`, whose encoder speaks OpenMetrics
//! (`# EOF`, `_total` appended to counter names) while Prometheus' federation, promtool and
//! Envoy's `/stats/prometheus` speak 0.0.4.

use crate::metrics::MetricFamily;
use std::fmt::Write;

/// The `Content-Type` of the text format, as Prometheus' Go libraries send it.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Appends `families` to `out`: `# HELP`, `# TYPE`, then one line per sample.
pub fn render(families: &[MetricFamily], out: &mut String) {
    for f in families {
        out.push_str("# HELP ");
        out.push_str(&f.name);
        out.push(' ');
        write_help(out, &f.help);
        out.push('\n');
        out.push_str("# TYPE ");
        out.push_str(&f.name);
        out.push(' ');
        out.push_str(f.kind.as_str());
        out.push('\n');
        for s in &f.samples {
            out.push_str(&f.name);
            out.push_str(s.suffix);
            write_labels(out, s.labels.iter().map(|(k, v)| (&**k, &**v)));
            out.push(' ');
            write_value(out, s.value);
            out.push('\n');
        }
    }
}

/// Appends `{k="v",...}`, or nothing when there are no labels.
pub(crate) fn write_labels<'a>(out: &mut String, labels: impl Iterator<Item = (&'a str, &'a str)>) {
    let mut first = true;
    for (k, v) in labels {
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(k);
        out.push_str("=\"");
        write_label_value(out, v);
        out.push('"');
    }
    if !first {
        out.push('}');
    }
}

/// Escapes a label value: backslash, double quote and line feed.
pub(crate) fn write_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Escapes help text: backslash and line feed.
fn write_help(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Formats a sample value: integers without a fraction, `NaN`, `+Inf`, `-Inf`, otherwise
/// the shortest decimal that reads back to the same `f64`.
pub fn format_value(v: f64) -> String {
    let mut s = String::new();
    write_value(&mut s, v);
    s
}

pub(crate) fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{LabelText, MetricKind, Sample};

    #[test]
    fn values() {
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(0.5), "0.5");
        assert_eq!(format_value(3_600_000.0), "3600000");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(-2.0), "-2");
    }

    #[test]
    fn escapes_label_values_and_help() {
        let fam = MetricFamily {
            name: "m_total".into(),
            help: "a \\ b\nc".into(),
            kind: MetricKind::Counter,
            samples: vec![Sample {
                suffix: "",
                labels: vec![(LabelText::from("path"), LabelText::from("a\"b\\c\nd"))],
                value: 1.0,
            }],
        };
        let mut out = String::new();
        render(&[fam], &mut out);
        assert_eq!(
            out,
            "# HELP m_total a \\\\ b\\nc\n# TYPE m_total counter\nm_total{path=\"a\\\"b\\\\c\\nd\"} 1\n"
        );
    }
}
