//! The functions' counters on the node's `/metrics`, in Prometheus' text format 0.0.4,
//! beside the gateway's request metrics that their HTTP traffic already has:
//!
//! * per pool (a Lambda function, or an Azure app's worker pool; `platform` says which):
//!   invocations, function errors, cold starts, throttles, live instances by state, and
//!   queued asynchronous events (bucket events and blob triggers wait there);
//! * per Azure function (`app`, `function`): invocations by Azure's outcome, whatever
//!   triggered them (HTTP, timer, blob, the admin API).

use std::fmt::Write as _;

use meridian_config::sam::Platform;

use crate::azure::AzureApps;
use crate::host::FunctionHost;

/// A label value, escaped as the text format wants.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str, rows: &[(String, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, v) in rows {
        let _ = writeln!(out, "{name}{{{labels}}} {v}");
    }
}

/// The families of `host`'s pools and `azure`'s functions.
pub fn text(host: &FunctionHost, azure: &AzureApps) -> String {
    let pools = host.functions();
    let mut out = String::new();
    if pools.is_empty() {
        return out;
    }
    let who = |name: &str| {
        let platform = match host.function(name).map(|s| s.platform) {
            Some(Platform::AzureFunctions) => "azure",
            _ => "lambda",
        };
        format!("function=\"{}\",platform=\"{platform}\"", label(name))
    };
    let rows = |f: &dyn Fn(&crate::host::FunctionStatus) -> u64| -> Vec<(String, u64)> {
        pools.iter().map(|p| (who(&p.name), f(p))).collect()
    };
    family(
        &mut out,
        "meridian_function_invocations_total",
        "counter",
        "Invocations a function's execution environments ran.",
        &rows(&|p| p.invocations),
    );
    family(
        &mut out,
        "meridian_function_errors_total",
        "counter",
        "Invocations that ended in a function error (handler error, timeout, crash).",
        &rows(&|p| p.errors),
    );
    family(
        &mut out,
        "meridian_function_cold_starts_total",
        "counter",
        "Execution environments started for an invocation.",
        &rows(&|p| p.cold_starts),
    );
    family(
        &mut out,
        "meridian_function_throttles_total",
        "counter",
        "Invocations refused at the function's or the host's concurrency limit.",
        &rows(&|p| p.throttles),
    );
    let mut instances = Vec::new();
    for p in &pools {
        instances.push((format!("{},state=\"busy\"", who(&p.name)), p.busy as u64));
        instances.push((format!("{},state=\"warm\"", who(&p.name)), p.warm as u64));
    }
    family(
        &mut out,
        "meridian_function_instances",
        "gauge",
        "Live execution environments, running an invocation (busy) or idle (warm).",
        &instances,
    );
    family(
        &mut out,
        "meridian_function_queued_events",
        "gauge",
        "Asynchronous events waiting or being delivered (bucket events, blob triggers, Event invocations).",
        &rows(&|p| p.queued_events as u64),
    );
    let mut azure_rows = Vec::new();
    for c in azure.invocation_counts() {
        let who = format!(
            "app=\"{}\",function=\"{}\"",
            label(&c.app),
            label(&c.function)
        );
        azure_rows.push((format!("{who},outcome=\"Succeeded\""), c.succeeded));
        azure_rows.push((format!("{who},outcome=\"Failed\""), c.failed));
    }
    if !azure_rows.is_empty() {
        family(
            &mut out,
            "meridian_azure_function_invocations_total",
            "counter",
            "Invocations of an Azure function by outcome, as its Executed log lines say.",
            &azure_rows,
        );
    }
    out
}
