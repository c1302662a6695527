//! Timer triggers: each timer function fires on its schedule, `runOnStartup` fires once when
//! the app starts, and with `useMonitor` the schedule's status (last, next, last updated) is
//! kept under the state dir so that an occurrence missed while Meridian was down fires once at
//! start with `isPastDue: true`, as the Functions host does with its storage account.
//!
//! Time is read as the wall clock at start plus tokio's monotonic clock since, so the runner
//! follows a paused test clock.

use std::future::Future;
use std::path::PathBuf;

use meridian_config::azure::Schedule;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// What the function gets: Azure's `TimerInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    /// When it fired (the scheduled time).
    pub at: OffsetDateTime,
    /// An occurrence was missed (Meridian was not running).
    pub past_due: bool,
    /// The previous occurrence, if known.
    pub last: Option<OffsetDateTime>,
    /// The next occurrence.
    pub next: Option<OffsetDateTime>,
}

impl Firing {
    /// The `TimerInfo` JSON the workers pass to the function.
    pub fn to_json(&self) -> serde_json::Value {
        let fmt = |t: Option<OffsetDateTime>| {
            t.and_then(|t| t.format(&Rfc3339).ok())
                .map_or(serde_json::Value::Null, serde_json::Value::String)
        };
        serde_json::json!({
            "Schedule": {"AdjustForDST": true},
            "ScheduleStatus": {
                "Last": fmt(self.last),
                "Next": fmt(self.next),
                "LastUpdated": fmt(Some(self.at)),
            },
            "IsPastDue": self.past_due,
        })
    }
}

/// One timer function's settings.
#[derive(Debug, Clone)]
pub struct TimerSpec {
    /// The schedule.
    pub schedule: Schedule,
    /// `runOnStartup`.
    pub run_on_startup: bool,
    /// Where the schedule's status is kept (`useMonitor`), if monitored.
    pub monitor: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy)]
struct Clock {
    wall: OffsetDateTime,
    mono: tokio::time::Instant,
}

impl Clock {
    fn now(&self) -> OffsetDateTime {
        self.wall + self.mono.elapsed()
    }

    fn instant_of(&self, t: OffsetDateTime) -> tokio::time::Instant {
        let ahead = (t - self.wall).max(time::Duration::ZERO);
        self.mono + std::time::Duration::try_from(ahead).unwrap_or_default()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Status {
    last: Option<String>,
    next: Option<String>,
    #[serde(rename = "lastUpdated")]
    last_updated: Option<String>,
}

fn parse(t: Option<&str>) -> Option<OffsetDateTime> {
    t.and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
}

fn save(file: &PathBuf, last: OffsetDateTime, next: Option<OffsetDateTime>, now: OffsetDateTime) {
    let s = Status {
        last: last.format(&Rfc3339).ok(),
        next: next.and_then(|n| n.format(&Rfc3339).ok()),
        last_updated: now.format(&Rfc3339).ok(),
    };
    let Ok(text) = serde_json::to_vec(&s) else {
        return;
    };
    if let Some(dir) = file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let tmp = file.with_extension("tmp");
    if std::fs::write(&tmp, text).is_ok() {
        let _ = std::fs::rename(&tmp, file);
    }
}

/// Runs a timer until the task is dropped: `fire` is called for each occurrence, in order.
pub async fn run<F, Fut>(spec: TimerSpec, wall_now: OffsetDateTime, mut fire: F)
where
    F: FnMut(Firing) -> Fut,
    Fut: Future<Output = ()>,
{
    let clock = Clock {
        wall: wall_now,
        mono: tokio::time::Instant::now(),
    };
    let stored: Option<Status> = spec
        .monitor
        .as_ref()
        .and_then(|f| std::fs::read(f).ok())
        .and_then(|b| serde_json::from_slice(&b).ok());
    let mut last = stored.as_ref().and_then(|s| parse(s.last.as_deref()));
    let missed = stored
        .as_ref()
        .and_then(|s| parse(s.next.as_deref()))
        .is_some_and(|n| n <= clock.now());
    // runOnStartup, or an occurrence missed while down, fires once at start.
    let mut at_start = spec.run_on_startup || missed;
    loop {
        let (at, past_due) = if std::mem::take(&mut at_start) {
            (clock.now(), missed)
        } else {
            let Some(at) = spec.schedule.next_after(clock.now()) else {
                return;
            };
            tokio::time::sleep_until(clock.instant_of(at)).await;
            (at, false)
        };
        let next = spec.schedule.next_after(at);
        fire(Firing {
            at,
            past_due,
            last,
            next,
        })
        .await;
        last = Some(at);
        if let Some(f) = &spec.monitor {
            save(f, at, next, clock.now());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    fn at(s: &str) -> OffsetDateTime {
        OffsetDateTime::parse(s, &Rfc3339).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn fmt(t: OffsetDateTime) -> String {
        t.format(&Rfc3339).unwrap_or_default()
    }

    fn spawn(
        spec: TimerSpec,
        start: &str,
    ) -> (Arc<Mutex<Vec<Firing>>>, tokio::task::JoinHandle<()>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let task = tokio::spawn(run(spec, at(start), move |f| {
            s.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(f);
            async {}
        }));
        (seen, task)
    }

    #[tokio::test(start_paused = true)]
    async fn fires_on_schedule_on_a_paused_clock() {
        let spec = TimerSpec {
            schedule: Schedule::parse("*/15 * * * * *").unwrap_or_else(|e| panic!("{e}")),
            run_on_startup: false,
            monitor: None,
        };
        let (seen, task) = spawn(spec, "2026-12-06T05:03:10Z");
        tokio::time::sleep(Duration::from_secs(60)).await;
        task.abort();
        let seen = seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let times: Vec<String> = seen.iter().map(|f| fmt(f.at)).collect();
        assert_eq!(
            times,
            [
                "2026-12-06T05:03:15Z",
                "2026-12-06T05:03:30Z",
                "2026-12-06T05:03:45Z",
                "2026-12-06T05:04:00Z"
            ]
        );
        assert_eq!(seen[1].last, Some(at("2026-12-06T05:03:15Z")));
        assert_eq!(seen[1].next, Some(at("2026-12-06T05:03:45Z")));
        assert!(seen.iter().all(|f| !f.past_due));
    }

    #[tokio::test(start_paused = true)]
    async fn run_on_startup_and_missed_occurrences() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let monitor = dir.path().join("tick.json");
        let spec = TimerSpec {
            schedule: Schedule::parse("0 0 * * * *").unwrap_or_else(|e| panic!("{e}")),
            run_on_startup: false,
            monitor: Some(monitor.clone()),
        };
        // First run: nothing stored, nothing past due; one occurrence at 06:00.
        let (seen, task) = spawn(spec.clone(), "2026-12-06T05:59:00Z");
        tokio::time::sleep(Duration::from_secs(120)).await;
        task.abort();
        let first = seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        assert_eq!(first.len(), 1);
        assert!(!first[0].past_due);
        assert_eq!(fmt(first[0].at), "2026-12-06T06:00:00Z");
        // Meridian was down from 06:01 to 09:30: the 07:00 occurrence was missed, so the
        // timer fires once at start, past due, then on schedule.
        let (seen, task) = spawn(spec.clone(), "2026-12-06T09:30:00Z");
        tokio::time::sleep(Duration::from_secs(31 * 60)).await;
        task.abort();
        let second = seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        assert_eq!(second.len(), 2, "{second:?}");
        assert!(second[0].past_due);
        assert_eq!(second[0].last, Some(at("2026-12-06T06:00:00Z")));
        assert_eq!(fmt(second[1].at), "2026-12-06T10:00:00Z");
        // runOnStartup fires at once without being past due.
        let spec = TimerSpec {
            run_on_startup: true,
            monitor: None,
            ..spec
        };
        let (seen, task) = spawn(spec, "2026-12-06T09:30:00Z");
        tokio::time::sleep(Duration::from_secs(1)).await;
        task.abort();
        let third = seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        assert_eq!(third.len(), 1);
        assert!(!third[0].past_due);
        assert_eq!(
            third[0].to_json()["ScheduleStatus"]["Next"],
            "2026-12-06T10:00:00Z"
        );
    }
}
