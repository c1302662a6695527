//! Per-replica log files under `<state>/logs/<replica>.log`: every line a process writes to
//! stdout or stderr, and the supervisor's own notes about it (started, exited, probe failed),
//! each prefixed with an RFC 3339 time and its stream. A file is rotated to `.log.1` when it
//! passes the size limit. Readers can follow a file: writers bump a counter that followers
//! wait on, so following costs nothing while nothing is written.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;

/// Longest line kept whole; longer output is split.
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

#[derive(Debug)]
struct Open {
    file: File,
    len: u64,
}

/// A replica's log, written by its output readers and the supervisor.
#[derive(Debug)]
pub(crate) struct LogFile {
    path: PathBuf,
    max_bytes: u64,
    open: Mutex<Option<Open>>,
    written: watch::Sender<u64>,
    tail: Mutex<std::collections::VecDeque<String>>,
}

/// Lines remembered for `ps` (a crash loop shows the last of them).
const TAIL_LINES: usize = 10;

impl LogFile {
    pub(crate) fn create(path: PathBuf, max_bytes: u64) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let len = file.metadata()?.len();
        Ok(Self {
            path,
            max_bytes: max_bytes.max(4096),
            open: Mutex::new(Some(Open { file, len })),
            written: watch::channel(0).0,
            tail: Mutex::new(std::collections::VecDeque::with_capacity(TAIL_LINES)),
        })
    }

    /// A log that drops everything (when the file cannot be created).
    pub(crate) fn disabled(path: PathBuf) -> Self {
        Self {
            path,
            max_bytes: 4096,
            open: Mutex::new(None),
            written: watch::channel(0).0,
            tail: Mutex::new(std::collections::VecDeque::with_capacity(TAIL_LINES)),
        }
    }

    /// Appends a line (errors writing the log are dropped: a full disk must not stop
    /// replicas).
    pub(crate) fn line(&self, stream: Stream, text: &str) {
        let now = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        let text = text.trim_end_matches(['\n', '\r']);
        let record = format!("{now} {} {text}\n", stream.as_str());
        if let Ok(mut open) = self.open.lock() {
            if open
                .as_ref()
                .is_some_and(|o| o.len + record.len() as u64 > self.max_bytes)
            {
                *open = None;
                let _ = fs::rename(&self.path, rotated(&self.path));
                if let Ok(file) = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                {
                    *open = Some(Open { file, len: 0 });
                }
            }
            if let Some(o) = open.as_mut()
                && o.file.write_all(record.as_bytes()).is_ok()
            {
                o.len += record.len() as u64;
            }
        }
        if let Ok(mut tail) = self.tail.lock() {
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(format!("{} {text}", stream.as_str()));
        }
        self.written.send_modify(|n| *n += 1);
    }

    /// The last lines written (for `ps` and crash-loop reports).
    pub(crate) fn tail(&self) -> Vec<String> {
        self.tail
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// A receiver that changes whenever a line is written.
    pub(crate) fn watch(&self) -> watch::Receiver<u64> {
        self.written.subscribe()
    }

    /// Copies a process's output into the log, line by line, until it closes.
    pub(crate) async fn pump(&self, out: impl AsyncRead + Unpin, stream: Stream) {
        let mut reader = tokio::io::BufReader::with_capacity(MAX_LINE, out);
        let mut buf = Vec::with_capacity(256);
        loop {
            buf.clear();
            // Bounded read: a process that never writes a newline cannot make us buffer
            // without limit.
            let mut limited = (&mut reader).take(MAX_LINE as u64);
            match tokio::io::AsyncBufReadExt::read_until(&mut limited, b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => self.line(stream, &String::from_utf8_lossy(&buf)),
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
}
