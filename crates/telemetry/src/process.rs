//! `process_*` metrics read from `/proc/self`, named and computed as Prometheus' Go client does
//! (CPU time in clock ticks of 1/100 s, like its procfs library).

use crate::metrics::{Collect, MetricFamily, MetricKind, Sample};
use std::fs;

/// Linux `USER_HZ`; the kernel reports 100 on every architecture Meridian targets.
const TICKS_PER_SECOND: f64 = 100.0;

/// What `/proc/self` says about this process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    /// User plus system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// Resident set size, in bytes.
    pub resident_memory_bytes: u64,
    /// Virtual memory size, in bytes.
    pub virtual_memory_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The soft limit on open file descriptors, if limited.
    pub max_fds: Option<u64>,
    /// Start time since the Unix epoch, in seconds.
    pub start_time_seconds: f64,
}

impl ProcessStats {
    /// Reads `/proc/self`; `None` where there is no procfs.
    pub fn read() -> Option<ProcessStats> {
        let stat = fs::read_to_string("/proc/self/stat").ok()?;
        // The command name may hold spaces and parentheses: fields start after the last ')'.
        let rest = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // Field n of proc(5) is fields[n - 3] here.
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        let utime = field(14)?;
        let stime = field(15)?;
        let start_ticks = field(22)?;
        let vsize = field(23)?;
        let status = fs::read_to_string("/proc/self/status").ok()?;
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0);
        let boot_time = fs::read_to_string("/proc/stat").ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })?;
        let open_fds = fs::read_dir("/proc/self/fd")
            .map(|d| d.count() as u64)
            .unwrap_or(0);
        let max_fds = fs::read_to_string("/proc/self/limits").ok().and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<u64>().ok())
        });
        Some(ProcessStats {
            cpu_seconds: (utime + stime) as f64 / TICKS_PER_SECOND,
            resident_memory_bytes: rss_kib * 1024,
            virtual_memory_bytes: vsize,
            open_fds,
            max_fds,
            start_time_seconds: boot_time as f64 + start_ticks as f64 / TICKS_PER_SECOND,
        })
    }
}

/// Gathers [`ProcessStats`] at each scrape.
#[derive(Debug, Default)]
pub(crate) struct ProcessCollector;

impl ProcessCollector {
    pub(crate) const FAMILY_NAMES: [&'static str; 6] = [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ];

    pub(crate) fn new() -> ProcessCollector {
        ProcessCollector
    }
}

fn single(name: &str, help: &str, kind: MetricKind, value: f64) -> MetricFamily {
    MetricFamily {
        name: name.to_owned(),
        help: help.to_owned(),
        kind,
        samples: vec![Sample {
            suffix: "",
            labels: Vec::new(),
            value,
        }],
    }
}

impl Collect for ProcessCollector {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        let Some(p) = ProcessStats::read() else {
            return;
        };
        out.push(single(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            MetricKind::Counter,
            p.cpu_seconds,
        ));
        out.push(single(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            MetricKind::Gauge,
            p.resident_memory_bytes as f64,
        ));
        out.push(single(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            MetricKind::Gauge,
            p.virtual_memory_bytes as f64,
        ));
        out.push(single(
            "process_open_fds",
            "Number of open file descriptors.",
            MetricKind::Gauge,
            p.open_fds as f64,
        ));
        if let Some(max) = p.max_fds {
            out.push(single(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                MetricKind::Gauge,
                max as f64,
            ));
        }
        out.push(single(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            MetricKind::Gauge,
            p.start_time_seconds,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::ProcessStats;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn reads_this_process() {
        let Some(p) = ProcessStats::read() else {
            eprintln!("skipping: no /proc on this system");
            return;
        };
        assert!(p.resident_memory_bytes > 0);
        assert!(p.open_fds >= 3, "stdin, stdout, stderr at least");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        assert!(p.start_time_seconds <= now + 1.0 && p.start_time_seconds > now - 86_400.0 * 365.0);
    }
}
