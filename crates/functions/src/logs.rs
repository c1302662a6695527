//! Function logs as Lambda writes them: the runtime's stdout and stderr, framed per
//! invocation by `START`, `END` and `REPORT` lines, appended to
//! `<state>/functions/<name>/function.log` and kept per invocation for `X-Amz-Log-Result`
//! and the CLI.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{mpsc, oneshot};

/// The most log text kept for one invocation.
const MAX_KEPT: usize = 256 * 1024;

/// What a REPORT line says.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Report {
    pub duration: Duration,
    pub memory_mb: u32,
    pub max_memory_used_mb: u64,
    pub init_duration: Option<Duration>,
}

/// A message to an instance's log writer.
#[derive(Debug)]
pub(crate) enum LogMsg {
    /// A line the runtime printed.
    Line(String),
    /// A line the platform adds (INIT_START, timeouts, crashes).
    Platform(String),
    /// An invocation starts.
    Start { request_id: String },
    /// An invocation ended; `logs` receives its lines when asked for.
    End {
        request_id: String,
        report: Report,
        logs: Option<oneshot::Sender<String>>,
    },
}

/// Formats a REPORT line as Lambda does.
pub(crate) fn report_line(request_id: &str, r: &Report) -> String {
    let ms = r.duration.as_secs_f64() * 1000.0;
    let billed = ms.ceil().max(1.0);
    let mut s = format!(
        "REPORT RequestId: {request_id}\tDuration: {ms:.2} ms\tBilled Duration: {billed:.0} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t",
        r.memory_mb, r.max_memory_used_mb
    );
    if let Some(init) = r.init_duration {
        let _ = write!(s, "Init Duration: {:.2} ms\t", init.as_secs_f64() * 1000.0);
    }
    s
}

/// Sends each line read from `reader` to the log writer.
pub(crate) fn pump<R: AsyncRead + Unpin + Send + 'static>(
    reader: R,
    tx: mpsc::UnboundedSender<LogMsg>,
) {
    tokio::spawn(async move {
        let mut r = BufReader::new(reader);
        let mut buf = Vec::with_capacity(256);
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                        buf.pop();
                    }
                    let line = String::from_utf8_lossy(&buf).into_owned();
                    if tx.send(LogMsg::Line(line)).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

/// Runs an instance's log writer until every sender is gone. `echo` copies lines to this
/// process's stderr (the CLI's `invoke`).
pub(crate) fn spawn_writer(file: PathBuf, echo: bool, mut rx: mpsc::UnboundedReceiver<LogMsg>) {
    tokio::spawn(async move {
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .ok();
        let mut current: Option<(String, String)> = None;
        let mut stash: Option<LogMsg> = None;
        let mut write = |line: &str, current: &mut Option<(String, String)>| {
            if let Some(f) = out.as_mut() {
                let _ = writeln!(f, "{line}");
            }
            if echo {
                eprintln!("{line}");
            }
            if let Some((_, buf)) = current.as_mut()
                && buf.len() < MAX_KEPT
            {
                buf.push_str(line);
                buf.push('\n');
            }
        };
        loop {
            let msg = match stash.take() {
                Some(m) => m,
                None => match rx.recv().await {
                    Some(m) => m,
                    None => break,
                },
            };
            match msg {
                LogMsg::Line(l) | LogMsg::Platform(l) => write(&l, &mut current),
                LogMsg::Start { request_id } => {
                    current = Some((request_id.clone(), String::new()));
                    write(
                        &format!("START RequestId: {request_id} Version: $LATEST"),
                        &mut current,
                    );
                }
                LogMsg::End {
                    request_id,
                    report,
                    logs,
                } => {
                    // Lines the runtime printed just before answering may still be in the
                    // pipe: take what arrives in the next moment before closing the
                    // invocation.
                    loop {
                        match tokio::time::timeout(Duration::from_millis(2), rx.recv()).await {
                            Ok(Some(LogMsg::Line(l))) => write(&l, &mut current),
                            Ok(Some(other)) => {
                                stash = Some(other);
                                break;
                            }
                            Ok(None) | Err(_) => break,
                        }
                    }
                    write(&format!("END RequestId: {request_id}"), &mut current);
                    write(&report_line(&request_id, &report), &mut current);
                    let kept = current.take().map(|(_, b)| b).unwrap_or_default();
                    if let Some(tx) = logs {
                        let _ = tx.send(kept);
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_match_lambda() {
        let r = Report {
            duration: Duration::from_micros(12_345),
            memory_mb: 128,
            max_memory_used_mb: 42,
            init_duration: Some(Duration::from_micros(150_500)),
        };
        assert_eq!(
            report_line("abc", &r),
            "REPORT RequestId: abc\tDuration: 12.35 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 42 MB\tInit Duration: 150.50 ms\t"
        );
    }
}
