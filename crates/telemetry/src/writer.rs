//! Logs written next to the data plane without ever making it wait for a disk: a dedicated
//! thread owns the sink (a file, standard output) and takes records from a bounded queue.
//!
//! * Producers never block. [`Writer::try_write`] drops a record when the queue is full;
//!   [`Writer::write`] first waits a bounded time for room (a child that writes faster than
//!   the disk is slowed down, as a terminal slows it), then drops. While the writer is
//!   behind (records were dropped and not reported yet), `write` drops at once instead of
//!   waiting again for every record, so a stalled disk costs one wait, not one per line.
//! * What is dropped is counted ([`Writer::dropped`]) and, once the queue has drained, told
//!   to the sink ([`Sink::dropped`]) so that it can leave a marker where the gap is.
//! * The thread writes whatever is queued, then flushes once; it ends when the last
//!   [`Writer`] is dropped, after writing what was queued.
//!
//! The output of child processes comes in through [`CappedLines`], which reads lines of at
//! most a given length and skips the rest of a longer line without buffering it, so a child
//! that never writes a newline cannot grow memory either.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{mpsc, oneshot};

/// What a writer thread does with the records it is given. Runs on the writer's own thread,
/// so it may block on I/O.
pub trait Sink: Send + 'static {
    /// One queued record.
    type Record: Send + 'static;

    /// Writes one record (buffered or not).
    fn write(&mut self, record: Self::Record);

    /// The queue is empty for now: push what is buffered to the operating system.
    fn flush(&mut self) {}

    /// `n` records were dropped since the last report, after those written so far.
    fn dropped(&mut self, n: u64) {
        let _ = n;
    }
}

enum Msg<R> {
    Record(R),
    Flush(oneshot::Sender<()>),
}

/// Records dropped and not yet told to the sink.
#[derive(Debug, Default)]
struct Unreported(AtomicU64);

/// The producer side of a writer thread. Cheap to clone; the thread ends when the last
/// clone is dropped.
pub struct Writer<R> {
    tx: mpsc::Sender<Msg<R>>,
    unreported: Arc<Unreported>,
    /// Dropped since the writer started (shared with whoever gave the counter).
    total: Arc<AtomicU64>,
}

impl<R> Clone for Writer<R> {
    fn clone(&self) -> Self {
        Writer {
            tx: self.tx.clone(),
            unreported: self.unreported.clone(),
            total: self.total.clone(),
        }
    }
}

impl<R> std::fmt::Debug for Writer<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("capacity", &self.tx.max_capacity())
            .field("dropped", &self.total.load(Ordering::Relaxed))
            .finish()
    }
}

/// Stack of a writer thread: sinks format lines and call `write`, nothing deep.
const STACK: usize = 256 * 1024;

impl<R: Send + 'static> Writer<R> {
    /// Starts a thread named `name` that owns `sink`, with room for `capacity` records.
    pub fn spawn<S: Sink<Record = R>>(name: &str, sink: S, capacity: usize) -> io::Result<Self> {
        Writer::spawn_counted(name, sink, capacity, Arc::default())
    }

    /// Like [`Writer::spawn`], adding the records it drops to `total` (a count shared by
    /// several writers, such as the environments of one function).
    pub fn spawn_counted<S: Sink<Record = R>>(
        name: &str,
        sink: S,
        capacity: usize,
        total: Arc<AtomicU64>,
    ) -> io::Result<Self> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let unreported = Arc::new(Unreported::default());
        let seen = unreported.clone();
        std::thread::Builder::new()
            .name(name.to_owned())
            .stack_size(STACK)
            .spawn(move || run(sink, rx, &seen))?;
        Ok(Writer {
            tx,
            unreported,
            total,
        })
    }

    /// Queues a record without waiting; false (and counted) when the queue is full.
    pub fn try_write(&self, record: R) -> bool {
        match self.tx.try_send(Msg::Record(record)) {
            Ok(()) => true,
            Err(_) => {
                self.count_drop();
                false
            }
        }
    }

    /// Queues a record, waiting at most `patience` for room; false (and counted) when there
    /// was none. While earlier drops are still unreported (the writer is behind), does not
    /// wait.
    pub async fn write(&self, record: R, patience: Duration) -> bool {
        if self.unreported.0.load(Ordering::Acquire) > 0 {
            return self.try_write(record);
        }
        match self.tx.send_timeout(Msg::Record(record), patience).await {
            Ok(()) => true,
            Err(_) => {
                self.count_drop();
                false
            }
        }
    }

    fn count_drop(&self) {
        self.unreported.0.fetch_add(1, Ordering::AcqRel);
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    /// Records dropped since the writer started (or in the shared count it was given).
    pub fn dropped(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Waits until every record queued before the call is written and flushed.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

fn run<S: Sink>(mut sink: S, mut rx: mpsc::Receiver<Msg<S::Record>>, unreported: &Unreported) {
    let report = |sink: &mut S| {
        let n = unreported.0.swap(0, Ordering::AcqRel);
        if n > 0 {
            sink.dropped(n);
        }
    };
    while let Some(msg) = rx.blocking_recv() {
        let mut next = Some(msg);
        // Write whatever is queued, then flush once.
        while let Some(msg) = next.take() {
            match msg {
                Msg::Record(r) => sink.write(r),
                Msg::Flush(done) => {
                    report(&mut sink);
                    sink.flush();
                    let _ = done.send(());
                }
            }
            next = rx.try_recv().ok();
        }
        report(&mut sink);
        sink.flush();
    }
    report(&mut sink);
    sink.flush();
}

/// One line read by [`CappedLines`].
#[derive(Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// The line without its newline (and without a carriage return before it), at most the
    /// cap long.
    pub text: &'a [u8],
    /// Bytes of the line past the cap, skipped.
    pub skipped: u64,
}

/// Lines of a stream, each at most `cap` bytes: the rest of a longer line is skipped as it
/// arrives, never buffered. Cancel safe: a partly read line is kept for the next call.
#[derive(Debug)]
pub struct CappedLines<R> {
    reader: BufReader<R>,
    cap: usize,
    line: Vec<u8>,
    skipped: u64,
    complete: bool,
}

impl<R: AsyncRead + Unpin> CappedLines<R> {
    /// Reads `reader` in lines of at most `cap` bytes.
    pub fn new(reader: R, cap: usize) -> Self {
        CappedLines {
            reader: BufReader::with_capacity(cap.clamp(1024, 64 * 1024), reader),
            cap,
            line: Vec::with_capacity(256),
            skipped: 0,
            complete: false,
        }
    }

    /// The next line; `None` at the end of the stream. A last line without a newline is
    /// returned too.
    pub async fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        if self.complete {
            self.line.clear();
            self.skipped = 0;
            self.complete = false;
        }
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                if self.line.is_empty() && self.skipped == 0 {
                    return Ok(None);
                }
                break;
            }
            let (content, used, ends) = match available.iter().position(|b| *b == b'\n') {
                Some(i) => (&available[..i], i + 1, true),
                None => (available, available.len(), false),
            };
            let room = self.cap.saturating_sub(self.line.len()).min(content.len());
            self.line.extend_from_slice(&content[..room]);
            self.skipped += (content.len() - room) as u64;
            self.reader.consume(used);
            if ends {
                break;
            }
        }
        self.complete = true;
        if self.skipped == 0 && self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        Ok(Some(Line {
            text: &self.line,
            skipped: self.skipped,
        }))
    }
}

/// The note appended to a line cut at the cap.
pub fn truncation_note(skipped: u64) -> String {
    format!(" [{skipped} more bytes of this line dropped]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Barrier, Mutex};

    /// A sink that remembers what it was given; its first write can be made to stall until
    /// released, like a disk that stops answering.
    #[derive(Clone, Default)]
    struct Memory {
        lines: Arc<Mutex<Vec<String>>>,
        stall: Option<(std::sync::mpsc::Sender<()>, Arc<Barrier>)>,
    }

    impl Sink for Memory {
        type Record = String;
        fn write(&mut self, record: String) {
            if let Some((stuck, release)) = self.stall.take() {
                let _ = stuck.send(());
                release.wait();
            }
            if let Ok(mut l) = self.lines.lock() {
                l.push(record);
            }
        }
        fn dropped(&mut self, n: u64) {
            if let Ok(mut l) = self.lines.lock() {
                l.push(format!("<{n} dropped>"));
            }
        }
    }

    #[tokio::test]
    async fn records_are_written_in_order_and_flush_waits_for_them() {
        let sink = Memory::default();
        let lines = sink.lines.clone();
        let w = Writer::spawn("test-writer", sink, 8).expect("thread");
        for i in 0..100 {
            assert!(w.write(format!("{i}"), Duration::from_secs(5)).await);
        }
        w.flush().await;
        let got = lines.lock().expect("lock").clone();
        let want: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        assert_eq!(got, want);
        assert_eq!(w.dropped(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_sink_costs_one_wait_then_drops_are_counted_and_reported() {
        let release = Arc::new(Barrier::new(2));
        let (stuck, is_stuck) = std::sync::mpsc::channel();
        let sink = Memory {
            stall: Some((stuck, release.clone())),
            ..Memory::default()
        };
        let lines = sink.lines.clone();
        let w = Writer::spawn("test-writer", sink, 2).expect("thread");
        let patience = Duration::from_millis(250);
        assert!(w.write("first".into(), patience).await);
        // The thread holds "first" in the stalled sink: two more fill the queue.
        is_stuck
            .recv_timeout(Duration::from_secs(10))
            .expect("the writer reaches the sink");
        assert!(w.write("second".into(), patience).await);
        assert!(w.write("third".into(), patience).await);
        let start = tokio::time::Instant::now();
        assert!(!w.write("fourth".into(), patience).await, "no room");
        assert_eq!(start.elapsed(), patience, "waited for room once");
        let start = tokio::time::Instant::now();
        for i in 0..50 {
            assert!(!w.write(format!("lost {i}"), patience).await);
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "behind: no more waiting");
        assert!(!w.try_write("lost too".into()));
        assert_eq!(w.dropped(), 52);
        release.wait();
        w.flush().await;
        assert_eq!(
            lines.lock().expect("lock").clone(),
            ["first", "second", "third", "<52 dropped>"]
        );
        // Caught up: the next record waits for room again and is written.
        assert!(w.write("fifth".into(), patience).await);
        w.flush().await;
        assert_eq!(
            lines.lock().expect("lock").last().map(String::as_str),
            Some("fifth")
        );
    }

    async fn lines_of(input: &[u8], cap: usize) -> Vec<(String, u64)> {
        let mut lines = CappedLines::new(input, cap);
        let mut out = Vec::new();
        while let Some(l) = lines.next_line().await.expect("read") {
            out.push((String::from_utf8_lossy(l.text).into_owned(), l.skipped));
        }
        out
    }

    #[tokio::test]
    async fn lines_are_capped_and_the_rest_skipped() {
        assert_eq!(
            lines_of(b"short\r\nexactly8\n0123456789abc\nlast", 8).await,
            [
                ("short".to_owned(), 0),
                ("exactly8".to_owned(), 0),
                ("01234567".to_owned(), 5),
                ("last".to_owned(), 0),
            ]
        );
        assert!(lines_of(b"", 8).await.is_empty());
        let long = vec![b'x'; 1 << 20];
        let got = lines_of(&long, 16 * 1024).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0.len(), 16 * 1024);
        assert_eq!(got[0].1, (1 << 20) - 16 * 1024);
    }
}
