//! How commands print: a human table, or JSON/YAML for scripts.

use std::io::{self, Write};

use serde::Serialize;

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OutputFormat {
    /// Lines and aligned columns for people.
    Table,
    /// One JSON document.
    Json,
    /// One YAML document.
    Yaml,
}

/// Prints `value` as JSON or YAML (for `Table`, callers print their own lines).
pub(crate) fn print_structured<T: Serialize>(
    format: OutputFormat,
    value: &T,
) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match format {
        OutputFormat::Json | OutputFormat::Table => {
            serde_json::to_writer_pretty(&mut out, value)?;
            writeln!(out)?;
        }
        OutputFormat::Yaml => {
            let json = serde_json::to_value(value)?;
            write_yaml(&mut out, &json, 0, false)?;
        }
    }
    Ok(())
}

/// A small YAML emitter for JSON values (block style, strings quoted when needed).
fn write_yaml(
    out: &mut impl Write,
    v: &serde_json::Value,
    indent: usize,
    in_seq: bool,
) -> io::Result<()> {
    use serde_json::Value;
    let pad = " ".repeat(indent);
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (i, (k, val)) in map.iter().enumerate() {
                let lead = if in_seq && i == 0 {
                    String::new()
                } else {
                    pad.clone()
                };
                match val {
                    Value::Object(m) if !m.is_empty() => {
                        writeln!(out, "{lead}{}:", yaml_scalar_str(k))?;
                        write_yaml(out, val, indent + 2, false)?;
                    }
                    Value::Array(a) if !a.is_empty() => {
                        writeln!(out, "{lead}{}:", yaml_scalar_str(k))?;
                        write_yaml(out, val, indent, false)?;
                    }
                    _ => writeln!(out, "{lead}{}: {}", yaml_scalar_str(k), yaml_scalar(val))?,
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                write!(out, "{pad}- ")?;
                match item {
                    Value::Object(m) if !m.is_empty() => write_yaml(out, item, indent + 2, true)?,
                    Value::Array(a) if !a.is_empty() => {
                        writeln!(out)?;
                        write_yaml(out, item, indent + 2, false)?;
                    }
                    _ => writeln!(out, "{}", yaml_scalar(item))?,
                }
            }
        }
        _ => writeln!(out, "{pad}{}", yaml_scalar(v))?,
    }
    Ok(())
}

fn yaml_scalar(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => yaml_scalar_str(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

fn yaml_scalar_str(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && !matches!(s, "true" | "false" | "null" | "~" | "yes" | "no")
        && s.parse::<f64>().is_err();
    if plain {
        s.to_owned()
    } else {
        // JSON strings are valid YAML double-quoted scalars.
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

/// Prints rows under a header, columns padded to their widest cell.
pub(crate) fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}
