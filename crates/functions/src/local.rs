//! What the CLI needs from the plane: a one-shot invoke like `sam local invoke` (result on
//! stdout, logs on stderr) and the function table of `meridian functions ls`.

use std::io::Write;

use bytes::Bytes;

use crate::error::FunctionsError;
use crate::host::{FunctionHost, FunctionStatus};
use crate::invocation::{InvokeRequest, Outcome};

/// Invokes `name` with `event`, writes its logs to `logs` and its result (one line) to
/// `out`. Returns the outcome, so the caller can exit non-zero on a function error.
pub async fn invoke_once(
    host: &FunctionHost,
    name: &str,
    event: Bytes,
    out: &mut impl Write,
    logs: &mut impl Write,
) -> Result<Outcome, FunctionsError> {
    let result = host
        .invoke(
            name,
            InvokeRequest {
                payload: event,
                want_logs: !host.config().echo_logs,
                ..InvokeRequest::default()
            },
        )
        .await?;
    if let Some(l) = &result.logs {
        let _ = logs.write_all(l.as_bytes());
        let _ = logs.flush();
    }
    let _ = out.write_all(result.outcome.payload());
    let _ = out.write_all(b"\n");
    let _ = out.flush();
    Ok(result.outcome)
}

/// The `meridian functions ls` table.
pub fn status_table(rows: &[FunctionStatus]) -> String {
    let mut out = format!(
        "{:<28} {:<16} {:>9} {:>5} {:>5} {:>11} {:>7} {:>11}  ROUTES\n",
        "NAME", "RUNTIME", "INSTANCES", "WARM", "BUSY", "INVOCATIONS", "ERRORS", "COLD STARTS"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<28} {:<16} {:>9} {:>5} {:>5} {:>11} {:>7} {:>11}  {}\n",
            r.name,
            r.runtime,
            r.instances,
            r.warm,
            r.busy,
            r.invocations,
            r.errors,
            r.cold_starts,
            r.routes.join(", ")
        ));
    }
    out
}
