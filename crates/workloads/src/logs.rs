//! Per-replica log files under `<state>/logs/<replica>.log`: every line a process writes to
//! stdout or stderr, and the supervisor's own notes about it (started, exited, probe failed),
//! each prefixed with an RFC 3339 time and its stream. A file is rotated to `.log.1` when it
//! passes the size limit. A writer thread per log does the file work, behind a bounded queue:
//! a process that floods its output or a disk that stalls slows or drops the log (with a
//! note of what was lost), never the runtime. Readers can follow a file: the writer bumps a
//! counter that followers wait on once lines are in the file, so following costs nothing
//! while nothing is written.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use meridian_telemetry::writer::{CappedLines, Sink, Writer, truncation_note};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::AsyncRead;
use tokio::sync::watch;

/// Longest line kept; the rest of a longer line is dropped, with a note saying how much.
const MAX_LINE: usize = 16 * 1024;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// The process's standard output.
    Stdout,
    /// The process's standard error.
    Stderr,
    /// A note by the supervisor.
    Meridian,
}

impl Stream {
    /// As written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Meridian => "meridian",
        }
    }
}

/// One line of a log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogLine {
    /// When it was written (RFC 3339).
    pub time: String,
    /// Which stream.
    pub stream: Stream,
    /// The text, without the newline.
    pub text: String,
}

impl LogLine {
    fn parse(line: &str) -> Option<LogLine> {
        let (time, rest) = line.split_once(' ')?;
        let (stream, text) = rest.split_once(' ').unwrap_or((rest, ""));
        let stream = match stream {
            "stdout" => Stream::Stdout,
            "stderr" => Stream::Stderr,
            "meridian" => Stream::Meridian,
            _ => return None,
        };
        Some(LogLine {
            time: time.to_owned(),
            stream,
            text: text.to_owned(),
        })
    }

    /// The time as a `SystemTime`, when it parses.
    pub fn system_time(&self) -> Option<SystemTime> {
        OffsetDateTime::parse(&self.time, &Rfc3339)
            .ok()
            .map(SystemTime::from)
    }
}

/// The path of a replica's log.
pub fn log_path(dir: &Path, replica: &str) -> PathBuf {
    dir.join(format!("{replica}.log"))
}

fn rotated(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".1");
    PathBuf::from(p)
}

/// How many lines may wait for the writer thread of one replica's log.
const QUEUE: usize = 1024;

/// How long a replica's output reader waits for room in the queue before it drops lines: a
/// process writing faster than the disk is slowed down meanwhile (its pipe fills), as a
/// terminal would slow it; a log that cannot be written at all never holds it longer.
const PATIENCE: Duration = Duration::from_millis(500);

/// The writer thread's side of a replica's log: the open file, rotated by size.
struct FileSink {
    path: PathBuf,
    max_bytes: u64,
    file: Option<BufWriter<File>>,
    len: u64,
    written: Arc<watch::Sender<u64>>,
}

impl FileSink {
    fn rotate(&mut self) {
        if let Some(mut f) = self.file.take() {
            let _ = f.flush();
        }
        let _ = fs::rename(&self.path, rotated(&self.path));
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .ok()
            .map(|f| BufWriter::with_capacity(64 * 1024, f));
        self.len = 0;
    }
}

impl Sink for FileSink {
    type Record = Vec<u8>;

    fn write(&mut self, record: Vec<u8>) {
        if self.len + record.len() as u64 > self.max_bytes {
            self.rotate();
        }
        // Errors writing the log are dropped: a full disk must not stop replicas.
        if let Some(f) = self.file.as_mut()
            && f.write_all(&record).is_ok()
        {
            self.len += record.len() as u64;
        }
    }

    fn flush(&mut self) {
        if let Some(f) = self.file.as_mut() {
            let _ = f.flush();
        }
        // Followers read the file when told: only once the lines are in it.
        self.written.send_modify(|n| *n += 1);
    }

    fn dropped(&mut self, n: u64) {
        let name = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned());
        tracing::warn!(
            replica = name.as_deref().unwrap_or_default(),
            lines = n,
            "replica output came faster than its log could be written; lines dropped"
        );
        self.write(record(
            Stream::Meridian,
            &format!("{n} lines of output dropped: the log could not keep up"),
        ));
    }
}

/// A log line as stored: an RFC 3339 time, the stream, the text.
fn record(stream: Stream, text: &str) -> Vec<u8> {
    let now = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default();
    format!("{now} {} {text}\n", stream.as_str()).into_bytes()
}

/// A replica's log, written by its output readers and the supervisor through a writer
/// thread ([`meridian_telemetry::writer`]), so that no task of the runtime waits for the disk.
#[derive(Debug)]
pub(crate) struct LogFile {
    /// `None` when the file cannot be opened: lines are dropped.
    writer: Option<Writer<Vec<u8>>>,
    written: Arc<watch::Sender<u64>>,
    tail: Mutex<std::collections::VecDeque<String>>,
}

/// Lines remembered for `ps` (a crash loop shows the last of them).
const TAIL_LINES: usize = 10;

impl LogFile {
    pub(crate) fn create(path: PathBuf, max_bytes: u64) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let len = file.metadata()?.len();
        let written = Arc::new(watch::channel(0).0);
        let name = format!(
            "log-{}",
            path.file_stem()
                .map(|s| s.to_string_lossy())
                .unwrap_or_default()
        );
        let sink = FileSink {
            path,
            max_bytes: max_bytes.max(4096),
            file: Some(BufWriter::with_capacity(64 * 1024, file)),
            len,
            written: written.clone(),
        };
        Ok(Self {
            writer: Some(Writer::spawn(&name, sink, QUEUE)?),
            written,
            tail: Mutex::new(std::collections::VecDeque::with_capacity(TAIL_LINES)),
        })
    }

    /// A log that drops everything (when the file cannot be created).
    pub(crate) fn disabled() -> Self {
        Self {
            writer: None,
            written: Arc::new(watch::channel(0).0),
            tail: Mutex::new(std::collections::VecDeque::with_capacity(TAIL_LINES)),
        }
    }

    fn remember(&self, stream: Stream, text: &str) {
        if let Ok(mut tail) = self.tail.lock() {
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(format!("{} {text}", stream.as_str()));
        }
    }

    /// Appends a line without waiting (the supervisor's notes); dropped, and counted, when
    /// the log is far behind.
    pub(crate) fn line(&self, stream: Stream, text: &str) {
        let text = text.trim_end_matches(['\n', '\r']);
        self.remember(stream, text);
        if let Some(w) = &self.writer {
            w.try_write(record(stream, text));
        }
    }

    /// The last lines written (for `ps` and crash-loop reports).
    pub(crate) fn tail(&self) -> Vec<String> {
        self.tail
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Lines dropped because the log could not keep up.
    pub(crate) fn dropped(&self) -> u64 {
        self.writer.as_ref().map_or(0, Writer::dropped)
    }

    /// Waits until the lines given so far are in the file.
    #[cfg(test)]
    pub(crate) async fn flush(&self) {
        if let Some(w) = &self.writer {
            w.flush().await;
        }
    }

    /// A receiver that changes whenever lines are written.
    pub(crate) fn watch(&self) -> watch::Receiver<u64> {
        self.written.subscribe()
    }

    /// Copies a process's output into the log, line by line, until it closes. A line
    /// longer than [`MAX_LINE`] is cut there, with a note of how much was dropped.
    pub(crate) async fn pump(&self, out: impl AsyncRead + Unpin, stream: Stream) {
        let mut lines = CappedLines::new(out, MAX_LINE);
        while let Ok(Some(line)) = lines.next_line().await {
            let mut text = String::from_utf8_lossy(line.text).into_owned();
            if line.skipped > 0 {
                text.push_str(&truncation_note(line.skipped));
            }
            self.remember(stream, &text);
            if let Some(w) = &self.writer {
                w.write(record(stream, &text), PATIENCE).await;
            }
        }
    }
}

/// What to read from a log.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Keep reading as lines are written.
    pub follow: bool,
    /// Only lines written at or after this time.
    pub since: Option<SystemTime>,
    /// Only the last N lines (before following).
    pub tail: Option<usize>,
}

/// Lines of one replica's log, in order; with `follow`, waits for more.
#[derive(Debug)]
pub struct LogReader {
    path: PathBuf,
    backlog: std::collections::VecDeque<LogLine>,
    since: Option<SystemTime>,
    follow: Option<watch::Receiver<u64>>,
    offset: u64,
    partial: String,
}

impl LogReader {
    pub(crate) fn open(
        path: PathBuf,
        q: &LogQuery,
        follow: Option<watch::Receiver<u64>>,
    ) -> io::Result<Self> {
        let mut backlog = std::collections::VecDeque::new();
        let old = rotated(&path);
        if let Ok(f) = File::open(&old) {
            read_lines(f, &mut backlog)?;
        }
        let mut offset = 0;
        match File::open(&path) {
            Ok(f) => {
                offset = f.metadata()?.len();
                read_lines(f.take(offset), &mut backlog)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && backlog.is_empty() => return Err(e),
            Err(_) => {}
        }
        if let Some(since) = q.since {
            backlog.retain(|l| l.system_time().is_none_or(|t| t >= since));
        }
        if let Some(n) = q.tail {
            while backlog.len() > n {
                backlog.pop_front();
            }
        }
        Ok(Self {
            path,
            backlog,
            since: q.since,
            follow: if q.follow { follow } else { None },
            offset,
            partial: String::new(),
        })
    }

    /// The next line; `None` at the end (or, when following, once the replica is gone).
    pub async fn next_line(&mut self) -> Option<LogLine> {
        loop {
            if let Some(l) = self.backlog.pop_front() {
                return Some(l);
            }
            // Mark what we have seen before reading, so a write racing the read wakes us.
            self.follow.as_mut()?.borrow_and_update();
            if self.read_more() {
                continue;
            }
            let rx = self.follow.as_mut()?;
            if rx.changed().await.is_err() {
                // The replica is gone: read what it wrote last, then stop.
                self.read_more();
                self.follow = None;
            }
        }
    }

    /// Reads what was appended since the last read; true if it found lines.
    fn read_more(&mut self) -> bool {
        let Ok(mut f) = File::open(&self.path) else {
            return false;
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            // Rotated: finish the old file, then start the new one from its beginning.
            if let Ok(mut old) = File::open(rotated(&self.path))
                && old.seek(SeekFrom::Start(self.offset)).is_ok()
            {
                let mut rest = String::new();
                let _ = old.read_to_string(&mut rest);
                self.take_text(&rest);
            }
            self.offset = 0;
        }
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return false;
        }
        let mut text = String::new();
        let n = f.read_to_string(&mut text).unwrap_or(0);
        self.offset += n as u64;
        self.take_text(&text);
        !self.backlog.is_empty()
    }

    fn take_text(&mut self, text: &str) {
        self.partial.push_str(text);
        while let Some(i) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=i).collect();
            if let Some(l) = LogLine::parse(line.trim_end_matches('\n'))
                && self
                    .since
                    .is_none_or(|s| l.system_time().is_none_or(|t| t >= s))
            {
                self.backlog.push_back(l);
            }
        }
    }
}

fn read_lines(r: impl Read, out: &mut std::collections::VecDeque<LogLine>) -> io::Result<()> {
    for line in BufReader::new(r).lines() {
        if let Some(l) = LogLine::parse(&line?) {
            out.push_back(l);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rotates_and_reads_across_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = log_path(dir.path(), "r1");
        let log = LogFile::create(path.clone(), 4096).expect("create");
        for i in 0..200 {
            log.line(Stream::Stdout, &format!("line {i}"));
        }
        log.flush().await;
        assert!(rotated(&path).exists(), "rotated by size");
        assert!(fs::metadata(&path).expect("meta").len() <= 4096);
        let mut r = LogReader::open(
            path.clone(),
            &LogQuery {
                tail: Some(3),
                ..Default::default()
            },
            None,
        )
        .expect("open");
        let mut got = Vec::new();
        while let Some(l) = r.next_line().await {
            got.push(l.text);
        }
        assert_eq!(got, ["line 197", "line 198", "line 199"]);
        assert_eq!(
            log.tail().last().map(String::as_str),
            Some("stdout line 199")
        );
    }

    #[tokio::test]
    async fn follows_new_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = log_path(dir.path(), "r2");
        let log = std::sync::Arc::new(LogFile::create(path.clone(), 1 << 20).expect("create"));
        log.line(Stream::Meridian, "started");
        let q = LogQuery {
            follow: true,
            ..Default::default()
        };
        let mut r = LogReader::open(path, &q, Some(log.watch())).expect("open");
        assert_eq!(
            r.next_line().await.map(|l| l.text).as_deref(),
            Some("started")
        );
        let writer = log.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            writer.line(Stream::Stderr, "later");
        });
        let next = tokio::time::timeout(std::time::Duration::from_secs(5), r.next_line())
            .await
            .expect("in time");
        assert_eq!(
            next.map(|l| (l.stream, l.text)),
            Some((Stream::Stderr, "later".to_owned()))
        );
    }

    #[tokio::test]
    async fn a_line_over_the_cap_is_cut_with_a_note() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = log_path(dir.path(), "r3");
        let log = LogFile::create(path.clone(), 1 << 20).expect("create");
        let mut output = vec![b'x'; 100 * 1024];
        output.extend_from_slice(b"\nnext\n");
        log.pump(output.as_slice(), Stream::Stdout).await;
        log.flush().await;
        let mut r = LogReader::open(path, &LogQuery::default(), None).expect("open");
        let first = r.next_line().await.expect("a line").text;
        assert_eq!(
            first,
            format!(
                "{}{}",
                "x".repeat(MAX_LINE),
                truncation_note((100 * 1024 - MAX_LINE) as u64)
            )
        );
        assert_eq!(r.next_line().await.map(|l| l.text).as_deref(), Some("next"));
    }

    /// The log is a FIFO that nobody reads: the writer thread blocks as on a stalled disk.
    /// The output of a real process is still read to its end, without holding the runtime,
    /// and what could not be written is counted and noted in the log.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stalled_log_never_stalls_the_reader_of_a_process() {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = log_path(dir.path(), "r4");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        let reader = OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(&path)
            .expect("open the fifo for reading");
        let log = LogFile::create(path.clone(), 1 << 30).expect("create");
        let mut child = tokio::process::Command::new("sh")
            .args(["-c", "yes 'a line of output' | head -n 300000"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let out = child.stdout.take().expect("stdout");
        tokio::time::timeout(Duration::from_secs(60), log.pump(out, Stream::Stdout))
            .await
            .expect("the whole output is read although the log is stalled");
        assert!(child.wait().await.expect("wait").success());
        let dropped = log.dropped();
        assert!(dropped > 0, "lines were dropped and counted");
        // Read the FIFO (blocking) until the writer closes it: the note of the loss is there.
        nix::fcntl::fcntl(
            &reader,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
        )
        .expect("blocking reads");
        drop(log);
        let text = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::task::spawn_blocking(move || {
                let mut text = String::new();
                let _ = BufReader::new(reader).read_to_string(&mut text);
                text
            }),
        )
        .await
        .expect("the writer finishes")
        .expect("join");
        assert!(
            text.contains("meridian ") && text.contains("lines of output dropped"),
            "{}",
            &text[text.len().saturating_sub(300)..]
        );
    }
}
