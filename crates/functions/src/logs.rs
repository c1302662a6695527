//! Function logs as Lambda writes them: the runtime's stdout and stderr, framed per
//! invocation by `START`, `END` and `REPORT` lines, appended to
//! `<state>/functions/<name>/function.log` and kept per invocation for `X-Amz-Log-Result`
//! and the CLI.
//!
//! Each execution environment has a writer thread ([`meridian_telemetry::writer`]) that owns
//! the file, behind a bounded queue: the runtime's output is read in lines of at most
//! 16 KiB (the rest of a longer line is dropped, with a note), and a runtime that prints
//! faster than the disk takes is slowed down for a moment, then loses lines (counted, and
//! noted in the log) rather than holding a task of the runtime or growing memory.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use meridian_telemetry::writer::{CappedLines, Sink, Writer, truncation_note};
use tokio::io::AsyncRead;
use tokio::sync::{mpsc, oneshot};

/// The most log text kept for one invocation.
const MAX_KEPT: usize = 256 * 1024;

/// The longest line kept; the rest of a longer line is dropped.
pub(crate) const MAX_LINE: usize = 16 * 1024;

/// Messages that may wait for an environment's log writer.
const QUEUE: usize = 256;

/// How long a producer waits for room in the queue before dropping a line.
pub(crate) const PATIENCE: Duration = Duration::from_millis(500);

/// How long an invocation waits for the output readers to pass on what the runtime printed
/// before it answered.
const SYNC_LIMIT: Duration = Duration::from_secs(1);

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
    Start {
        request_id: String,
        azure: Option<crate::invocation::AzureLabel>,
    },
    /// An invocation ended; `logs` receives its lines when asked for.
    End {
        request_id: String,
        report: Report,
        azure: Option<crate::invocation::AzureLabel>,
        failed: bool,
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

/// The writer thread's side of an environment's log.
struct FunctionLog {
    path: PathBuf,
    file: Option<BufWriter<File>>,
    opened: bool,
    /// Copy lines to this process's stderr (the CLI's `invoke`).
    echo: bool,
    /// The invocation in progress and its lines so far.
    current: Option<(String, String)>,
}

impl FunctionLog {
    fn line(&mut self, line: &str) {
        if !self.opened {
            self.opened = true;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .ok()
                .map(|f| BufWriter::with_capacity(64 * 1024, f));
        }
        if let Some(f) = self.file.as_mut() {
            let _ = writeln!(f, "{line}");
        }
        if self.echo {
            eprintln!("{line}");
        }
        if let Some((_, buf)) = self.current.as_mut()
            && buf.len() < MAX_KEPT
        {
            buf.push_str(line);
            buf.push('\n');
        }
    }
}

impl Sink for FunctionLog {
    type Record = LogMsg;

    fn write(&mut self, msg: LogMsg) {
        match msg {
            LogMsg::Line(l) | LogMsg::Platform(l) => self.line(&l),
            LogMsg::Start { request_id, azure } => {
                self.current = Some((request_id.clone(), String::new()));
                match azure {
                    Some(a) => self.line(&format!(
                        "Executing '{}' (Reason='{}', Id={request_id})",
                        a.function, a.reason
                    )),
                    None => self.line(&format!("START RequestId: {request_id} Version: $LATEST")),
                }
            }
            LogMsg::End {
                request_id,
                report,
                azure,
                failed,
                logs,
            } => {
                match azure {
                    Some(a) => self.line(&format!(
                        "Executed '{}' ({}, Id={request_id}, Duration={}ms)",
                        a.function,
                        if failed { "Failed" } else { "Succeeded" },
                        report.duration.as_millis()
                    )),
                    None => {
                        self.line(&format!("END RequestId: {request_id}"));
                        self.line(&report_line(&request_id, &report));
                    }
                }
                let kept = self.current.take().map(|(_, b)| b).unwrap_or_default();
                if let Some(tx) = logs {
                    let _ = tx.send(kept);
                }
            }
        }
    }

    fn flush(&mut self) {
        if let Some(f) = self.file.as_mut() {
            let _ = f.flush();
        }
    }

    fn dropped(&mut self, n: u64) {
        tracing::warn!(
            log = %self.path.display(),
            lines = n,
            "function output came faster than its log could be written; lines dropped"
        );
        self.line(&format!(
            "{n} lines of function output dropped: the log could not keep up"
        ));
    }
}

/// Starts an environment's log writer, appending to `file`; `echo` copies lines to this
/// process's stderr; lines dropped are added to `dropped`.
pub(crate) fn spawn_writer(
    file: PathBuf,
    echo: bool,
    dropped: Arc<AtomicU64>,
) -> std::io::Result<Writer<LogMsg>> {
    let sink = FunctionLog {
        path: file,
        file: None,
        opened: false,
        echo,
        current: None,
    };
    Writer::spawn_counted("function-log", sink, QUEUE, dropped)
}

/// An output reader of an environment: asked to [`sync`](Pump::sync), it passes on what the
/// pipe holds at that moment before answering.
#[derive(Debug)]
pub(crate) struct Pump {
    requests: mpsc::Sender<oneshot::Sender<()>>,
}

impl Pump {
    /// Waits (at most a second) until the lines the runtime wrote before now are queued for
    /// the log: a runtime prints, then answers, so its last lines belong to the invocation
    /// that it answered.
    pub(crate) async fn sync(&self) {
        let (done, synced) = oneshot::channel();
        let _ = tokio::time::timeout(SYNC_LIMIT, async {
            if self.requests.send(done).await.is_ok() {
                let _ = synced.await;
            }
        })
        .await;
    }
}

/// Reads `reader` line by line into the log writer until it closes.
pub(crate) fn pump<R: AsyncRead + Unpin + Send + 'static>(
    reader: R,
    writer: Writer<LogMsg>,
) -> Pump {
    let (requests, mut syncs) = mpsc::channel::<oneshot::Sender<()>>(1);
    tokio::spawn(async move {
        let mut lines = CappedLines::new(reader, MAX_LINE);
        let forward = |line: meridian_telemetry::writer::Line<'_>| {
            let mut text = String::from_utf8_lossy(line.text).into_owned();
            if line.skipped > 0 {
                text.push_str(&truncation_note(line.skipped));
            }
            LogMsg::Line(text)
        };
        let mut asked = true;
        loop {
            tokio::select! {
                biased;
                req = syncs.recv(), if asked => match req {
                    Some(done) => {
                        // Pass on every line already in the pipe, without waiting for more.
                        loop {
                            tokio::select! {
                                biased;
                                line = lines.next_line() => match line {
                                    Ok(Some(l)) => {
                                        let msg = forward(l);
                                        writer.write(msg, PATIENCE).await;
                                    }
                                    Ok(None) | Err(_) => break,
                                },
                                () = std::future::ready(()) => break,
                            }
                        }
                        let _ = done.send(());
                    }
                    None => asked = false,
                },
                line = lines.next_line() => match line {
                    Ok(Some(l)) => {
                        let msg = forward(l);
                        writer.write(msg, PATIENCE).await;
                    }
                    Ok(None) | Err(_) => break,
                },
            }
        }
    });
    Pump { requests }
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
