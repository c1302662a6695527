//! The demo app's switches, from flags and the environment.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// A bad flag or environment value, naming the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// A flag Meridian's demo app does not know.
    #[error(
        "unknown flag \"{0}\" (flags: --port, --bind, --service, --version, --call, --latency, --fail-percent, --fail-status, --fail-after, --ready-after, --unhealthy-after, --exit-after, --exit-code, --ignore-sigterm)"
    )]
    UnknownFlag(String),
    /// A flag without its value.
    #[error("flag {0} needs a value")]
    MissingValue(String),
    /// A value that does not parse.
    #[error("invalid value \"{value}\" for {flag}: {reason}")]
    Invalid {
        /// The flag or variable.
        flag: String,
        /// The value given.
        value: String,
        /// What is expected.
        reason: &'static str,
    },
}

/// Added latency: fixed, or uniform in a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    /// Least delay.
    pub min: Duration,
    /// Most delay (equal to `min` for a fixed delay).
    pub max: Duration,
}

/// The demo app's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Port to listen on (`--port`, else `PORT`, else 8080).
    pub port: u16,
    /// Address to listen on (`--bind`, 127.0.0.1 by default).
    pub bind: IpAddr,
    /// Service name (`--service`, else `SERVICE_NAME`, else `MERIDIAN_WORKLOAD`).
    pub service: String,
    /// Version (`--version`, else `VERSION`, else `MERIDIAN_VERSION`).
    pub version: String,
    /// Replica name (`POD_NAME`, else `HOSTNAME`).
    pub replica: String,
    /// Delay before answering (`--latency 50ms` or `--latency 10ms..100ms`).
    pub latency: Option<Latency>,
    /// Share of requests that fail, 0 to 100 (`--fail-percent`).
    pub fail_percent: f64,
    /// Status of failed requests (`--fail-status`, 503 by default).
    pub fail_status: u16,
    /// Every request after the first N fails (`--fail-after N`).
    pub fail_after: Option<u64>,
    /// `/readyz` answers 503 until this long after start (`--ready-after 2s`).
    pub ready_after: Duration,
    /// `/healthz` answers 503 from this long after start (`--unhealthy-after 5s`).
    pub unhealthy_after: Option<Duration>,
    /// The process exits this long after start (`--exit-after 1s`).
    pub exit_after: Option<Duration>,
    /// The exit code for `--exit-after` (1 by default).
    pub exit_code: i32,
    /// Keep running on SIGTERM (to test SIGKILL after the grace period).
    pub ignore_sigterm: bool,
    /// URLs called for every request before answering (`--call http://ratings/`, repeat for
    /// several), through `HTTP_PROXY` when set, passing on the trace headers as Istio asks
    /// applications to.
    pub call: Vec<http::Uri>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            port: 8080,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            service: "demo".into(),
            version: "v1".into(),
            replica: "demo".into(),
            latency: None,
            fail_percent: 0.0,
            fail_status: 503,
            fail_after: None,
            ready_after: Duration::ZERO,
            unhealthy_after: None,
            exit_after: None,
            exit_code: 1,
            ignore_sigterm: false,
            call: Vec::new(),
        }
    }
}

fn invalid(flag: &str, value: &str, reason: &'static str) -> OptionsError {
    OptionsError::Invalid {
        flag: flag.into(),
        value: value.into(),
        reason,
    }
}

/// A duration in Go's syntax, as every Meridian flag and manifest takes it: `50ms`, `1.5s`,
/// `2m`, `250us`, `1h30m`.
fn duration(flag: &str, v: &str) -> Result<Duration, OptionsError> {
    meridian_config::duration::parse(v)
        .map_err(|_| invalid(flag, v, "expected a duration like 50ms, 1.5s or 2m"))
}

impl Options {
    /// Parses flags (without the program name); `env` reads environment variables.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, OptionsError> {
        let mut o = Options::default();
        if let Some(p) = env("PORT") {
            o.port = p
                .parse()
                .map_err(|_| invalid("PORT", &p, "expected a port number"))?;
        }
        if let Some(s) = env("SERVICE_NAME").or_else(|| env("MERIDIAN_WORKLOAD")) {
            o.service = s;
        }
        if let Some(v) = env("VERSION").or_else(|| env("MERIDIAN_VERSION")) {
            o.version = v;
        }
        if let Some(r) = env("POD_NAME").or_else(|| env("HOSTNAME")) {
            o.replica = r;
        }
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
                _ => (flag.clone(), None),
            };
            if name == "--ignore-sigterm" {
                o.ignore_sigterm = true;
                continue;
            }
            if !name.starts_with("--") {
                return Err(OptionsError::UnknownFlag(flag));
            }
            let known = [
                "--port",
                "--bind",
                "--service",
                "--version",
                "--latency",
                "--fail-percent",
                "--fail-status",
                "--fail-after",
                "--ready-after",
                "--unhealthy-after",
                "--exit-after",
                "--exit-code",
                "--call",
            ];
            if !known.contains(&name.as_str()) {
                return Err(OptionsError::UnknownFlag(flag));
            }
            let v = match inline {
                Some(v) => v,
                None => args
                    .next()
                    .ok_or_else(|| OptionsError::MissingValue(name.clone()))?,
            };
            let n = name.as_str();
            match n {
                "--port" => {
                    o.port = v
                        .parse()
                        .map_err(|_| invalid(n, &v, "expected a port number"))?
                }
                "--bind" => {
                    o.bind = v
                        .parse()
                        .map_err(|_| invalid(n, &v, "expected an IP address"))?
                }
                "--service" => o.service = v,
                "--call" => {
                    let uri: http::Uri = v
                        .parse()
                        .ok()
                        .filter(|u: &http::Uri| {
                            u.scheme_str() == Some("http") && u.authority().is_some()
                        })
                        .ok_or_else(|| invalid(n, &v, "expected an http:// URL"))?;
                    o.call.push(uri);
                }
                "--version" => o.version = v,
                "--latency" => {
                    o.latency = Some(match v.split_once("..") {
                        Some((a, b)) => {
                            let (min, max) = (duration(n, a)?, duration(n, b)?);
                            if max < min {
                                return Err(invalid(n, &v, "the range must go from low to high"));
                            }
                            Latency { min, max }
                        }
                        None => {
                            let d = duration(n, &v)?;
                            Latency { min: d, max: d }
                        }
                    });
                }
                "--fail-percent" => {
                    o.fail_percent = v
                        .trim_end_matches('%')
                        .parse()
                        .ok()
                        .filter(|p: &f64| (0.0..=100.0).contains(p))
                        .ok_or_else(|| invalid(n, &v, "expected a percentage from 0 to 100"))?;
                }
                "--fail-status" => {
                    o.fail_status = v
                        .parse()
                        .ok()
                        .filter(|s| (100..=599).contains(s))
                        .ok_or_else(|| invalid(n, &v, "expected an HTTP status from 100 to 599"))?;
                }
                "--fail-after" => {
                    o.fail_after = Some(
                        v.parse()
                            .map_err(|_| invalid(n, &v, "expected a request count"))?,
                    )
                }
                "--ready-after" => o.ready_after = duration(n, &v)?,
                "--unhealthy-after" => o.unhealthy_after = Some(duration(n, &v)?),
                "--exit-after" => o.exit_after = Some(duration(n, &v)?),
                _ => {
                    o.exit_code = v
                        .parse()
                        .map_err(|_| invalid(n, &v, "expected an exit code"))?
                }
            }
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, OptionsError> {
        Options::parse(args.iter().map(|s| (*s).to_owned()), |k| match k {
            "PORT" => Some("4000".into()),
            "POD_NAME" => Some("web-1".into()),
            "MERIDIAN_WORKLOAD" => Some("web".into()),
            _ => None,
        })
    }

    #[test]
    fn reads_env_then_flags() {
        let o = parse(&[
            "--latency",
            "10ms..20ms",
            "--fail-percent=50",
            "--fail-status",
            "500",
            "--version",
            "v2",
        ])
        .expect("valid");
        assert_eq!(o.port, 4000);
        assert_eq!(o.replica, "web-1");
        assert_eq!(o.service, "web");
        assert_eq!(o.version, "v2");
        assert_eq!(
            o.latency,
            Some(Latency {
                min: Duration::from_millis(10),
                max: Duration::from_millis(20)
            })
        );
        assert_eq!(o.fail_percent, 50.0);
        assert_eq!(o.fail_status, 500);
        assert_eq!(parse(&["--port", "5"]).expect("valid").port, 5);
        let o =
            parse(&["--call", "http://ratings/", "--call=http://details:9080/x"]).expect("valid");
        assert_eq!(o.call.len(), 2);
        assert!(parse(&["--call", "ratings"]).is_err());
    }

    #[test]
    fn refuses_bad_flags_with_the_fix() {
        assert_eq!(
            parse(&["--nope"]),
            Err(OptionsError::UnknownFlag("--nope".into()))
        );
        assert_eq!(
            parse(&["--latency"]),
            Err(OptionsError::MissingValue("--latency".into()))
        );
        assert!(parse(&["--fail-percent", "150"]).is_err());
        assert!(parse(&["--latency", "5 parsecs"]).is_err());
        assert!(parse(&["--latency", "20ms..10ms"]).is_err());
    }
}
