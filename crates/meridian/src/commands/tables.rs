//! `meridian tables ls|scan`: the DynamoDB tables of the running node, and their items. The
//! AWS CLI (`aws dynamodb ... --endpoint-url`, with the key `meridian up` prints) is the full
//! client; these are the quick looks.

use std::collections::BTreeSet;
use std::process::ExitCode;

use meridian_admin::AdminRequest;
use meridian_storage::plane::TableSummary;
use serde_json::Value;

use crate::client::Target;
use crate::output::{OutputFormat, print_structured, print_table};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// List the tables: items, size, indexes, stream.
    Ls,
    /// Print a table's items (one Scan page: at most 1 MB, or --limit items).
    Scan {
        /// The table.
        name: String,
        /// The most items to print.
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
}

pub(crate) fn run(args: &Args, format: OutputFormat) -> anyhow::Result<ExitCode> {
    match &args.action {
        Action::Ls => {
            let v = args.target.call(&AdminRequest::Tables)?;
            if format != OutputFormat::Table {
                print_structured(format, &v)?;
                return Ok(ExitCode::SUCCESS);
            }
            let tables: Vec<TableSummary> = serde_json::from_value(v)?;
            let rows: Vec<Vec<String>> = tables
                .iter()
                .map(|t| {
                    vec![
                        t.name.clone(),
                        t.items.to_string(),
                        human_bytes(t.size_bytes),
                        if t.indexes.is_empty() {
                            "-".to_owned()
                        } else {
                            t.indexes.join(", ")
                        },
                        t.stream.clone().unwrap_or_else(|| "-".to_owned()),
                        t.ttl_attribute.clone().unwrap_or_else(|| "-".to_owned()),
                    ]
                })
                .collect();
            print_table(
                &["NAME", "ITEMS", "SIZE", "INDEXES", "STREAM", "TTL"],
                &rows,
            );
        }
        Action::Scan { name, limit } => {
            let v = args.target.call(&AdminRequest::TableScan {
                table: name.clone(),
                limit: *limit,
            })?;
            if format != OutputFormat::Table {
                print_structured(format, &v)?;
                return Ok(ExitCode::SUCCESS);
            }
            let items = v["Items"].as_array().cloned().unwrap_or_default();
            print_items(&items);
            if v.get("LastEvaluatedKey").is_some() {
                eprintln!(
                    "(more items: this is one page; `aws dynamodb scan --table-name {name} --endpoint-url ...` reads them all)"
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Items as rows: one column per attribute name, in order of first appearance.
fn print_items(items: &[Value]) {
    let mut columns: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    for item in items {
        if let Some(m) = item.as_object() {
            for k in m.keys() {
                if seen.insert(k.clone()) {
                    columns.push(k.clone());
                }
            }
        }
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| {
            columns
                .iter()
                .map(|c| item.get(c).map_or_else(|| "-".to_owned(), plain))
                .collect()
        })
        .collect();
    let header: Vec<&str> = columns.iter().map(String::as_str).collect();
    print_table(&header, &rows);
}

/// An attribute value as text: strings and numbers as they are, the rest as compact JSON of
/// their plain form (what `lib-dynamodb` gives a program).
fn plain(v: &Value) -> String {
    // A number as DynamoDB holds it (up to 38 digits, trailing zeros kept).
    if let Some(n) = v.get("N").and_then(Value::as_str) {
        return n.to_owned();
    }
    match unmarshal(v) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

fn unmarshal(v: &Value) -> Value {
    let Some((ty, inner)) = v.as_object().and_then(|m| m.iter().next()) else {
        return v.clone();
    };
    match ty.as_str() {
        "S" | "B" => inner.clone(),
        "N" => inner
            .as_str()
            .and_then(|n| serde_json::from_str::<serde_json::Number>(n).ok())
            .map_or_else(|| inner.clone(), Value::Number),
        "BOOL" => inner.clone(),
        "NULL" => Value::Null,
        "SS" | "BS" => inner.clone(),
        "NS" => Value::Array(
            inner
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| unmarshal(&serde_json::json!({ "N": n })))
                .collect(),
        ),
        "L" => Value::Array(
            inner
                .as_array()
                .into_iter()
                .flatten()
                .map(unmarshal)
                .collect(),
        ),
        "M" => Value::Object(
            inner
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), unmarshal(v)))
                .collect(),
        ),
        _ => v.clone(),
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_values_print_plain() {
        let item = serde_json::json!({
            "s": {"S": "a b"}, "n": {"N": "12.50"}, "l": {"L": [{"N": "1"}, {"BOOL": true}]},
            "m": {"M": {"x": {"NULL": true}}}, "ns": {"NS": ["2", "3"]}
        });
        assert_eq!(plain(&item["s"]), "a b");
        assert_eq!(plain(&item["n"]), "12.50");
        assert_eq!(plain(&item["l"]), "[1,true]");
        assert_eq!(plain(&item["m"]), r#"{"x":null}"#);
        assert_eq!(plain(&item["ns"]), "[2,3]");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
