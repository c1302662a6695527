//! `meridian check`: is this node healthy? Like `linkerd check`: each check prints a green
//! tick or a red cross with a hint saying what to do.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use crate::client::Target;
use crate::output::{OutputFormat, print_structured};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    target: Target,
}

/// One check's outcome.
#[derive(Debug, serde::Serialize)]
struct Check {
    name: String,
    ok: bool,
    /// What was found.
    detail: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
    /// Not applicable here (counts as passing).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    skipped: bool,
}

fn pass(name: &str, detail: impl Into<String>) -> Check {
    Check {
        name: name.to_owned(),
        ok: true,
        detail: detail.into(),
        hint: None,
        skipped: false,
    }
}

fn fail(name: &str, detail: impl Into<String>, hint: impl Into<String>) -> Check {
    Check {
        name: name.to_owned(),
        ok: false,
        detail: detail.into(),
        hint: Some(hint.into()),
        skipped: false,
    }
}

fn skip(name: &str, detail: impl Into<String>) -> Check {
    Check {
        skipped: true,
        ..pass(name, detail)
    }
}

fn state_dir(dir: &Path) -> Check {
    let name = "state folder";
    if !dir.exists() {
        return fail(
            name,
            format!("{} does not exist", dir.display()),
            "run `meridian up` here, or pass --state-dir DIR (or MERIDIAN_STATE_DIR)",
        );
    }
    let probe = dir.join(".check");
    match std::fs::write(&probe, b"ok") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            pass(name, format!("{} is writable", dir.display()))
        }
        Err(e) => fail(
            name,
            format!("{} is not writable: {e}", dir.display()),
            "fix its permissions, or pass another --state-dir",
        ),
    }
}

/// Certificates of the mesh CA in the state folder, if the CA has written any.
fn ca(dir: &Path) -> Check {
    let name = "mesh CA";
    let mut pems = Vec::new();
    for sub in ["ca", "identity", "."] {
        if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
            for e in entries.flatten() {
                let p = e.path();
                let file = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                if matches!(
                    file,
                    "root-ca.pem" | "root-cert.pem" | "ca-cert.pem" | "trust-bundle.pem"
                ) {
                    pems.push(p);
                }
            }
        }
    }
    let Some(path) = pems.first() else {
        return skip(
            name,
            "no CA in the state folder yet (`meridian up` creates one in <state>/ca)",
        );
    };
    let Ok(bytes) = std::fs::read(path) else {
        return fail(
            name,
            format!("cannot read {}", path.display()),
            "check the file's permissions",
        );
    };
    // The file may hold the key too: take its first certificate.
    let cert = x509_parser::pem::Pem::iter_from_buffer(&bytes)
        .filter_map(Result::ok)
        .find(|p| p.label == "CERTIFICATE")
        .and_then(|pem| {
            pem.parse_x509()
                .ok()
                .map(|c| (c.validity().not_before, c.validity().not_after))
        });
    let Some((not_before, not_after)) = cert else {
        return fail(
            name,
            format!("{} holds no readable certificate", path.display()),
            "restore the CA files from a backup, or remove them to generate a new root",
        );
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let left = not_after.timestamp() - now;
    if now < not_before.timestamp() {
        fail(
            name,
            format!("{} is not valid yet", path.display()),
            "check the machine's clock",
        )
    } else if left <= 0 {
        fail(
            name,
            format!("{} expired on {not_after}", path.display()),
            "rotate the root with `meridian ca rotate`",
        )
    } else if left < 30 * 86_400 {
        fail(
            name,
            format!("{} expires in {} days", path.display(), left / 86_400),
            "rotate the root soon with `meridian ca rotate`",
        )
    } else {
        pass(
            name,
            format!(
                "{} is valid for {} more days",
                path.display(),
                left / 86_400
            ),
        )
    }
}

fn port_free(addr: &str) -> bool {
    addr.parse::<SocketAddr>()
        .ok()
        .is_some_and(|a| TcpListener::bind(a).is_ok())
}

/// Sends `GET /` to an `http://ADDR` endpoint; its status and body.
fn get_root(url: &str) -> Option<anyhow::Result<(u16, String)>> {
    let addr = url.strip_prefix("http://")?.parse::<SocketAddr>().ok()?;
    Some((|| {
        let req = http::Request::get("/")
            .header(http::header::HOST, addr.to_string())
            .body(meridian_http_client::Body::default())?;
        let (head, mut body) =
            meridian_http_client::blocking::request(addr, req, Duration::from_secs(5))?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut body, &mut text)?;
        Ok((head.status.as_u16(), text))
    })())
}

/// A storage endpoint the node reports in `status`: its plain `GET /` must answer with
/// `expect` in the body.
struct Endpoint<'a> {
    name: &'a str,
    /// The flag that moves it to another address.
    flag: &'a str,
    expect: &'a str,
    /// What a healthy endpoint reports beside its address.
    detail: String,
}

fn endpoint(status: &serde_json::Value, e: Endpoint<'_>) -> Check {
    let Some(url) = status["url"].as_str() else {
        return fail(
            e.name,
            format!("the node reports no {} endpoint", e.name),
            "upgrade the running node, or restart `meridian up`",
        );
    };
    match get_root(url) {
        Some(Ok((_, body))) if body.contains(e.expect) => {
            pass(e.name, format!("{url} answers; {}", e.detail))
        }
        Some(Ok((code, body))) => fail(
            e.name,
            format!(
                "{url} answered something else: HTTP {code} {}",
                body.lines().next().unwrap_or("")
            ),
            format!(
                "another program may hold the port; restart `meridian up` with {}",
                e.flag
            ),
        ),
        Some(Err(err)) => fail(
            e.name,
            format!("{url} does not answer: {err:#}"),
            "look at the node's output",
        ),
        None => fail(
            e.name,
            format!("{url} is not an http://ADDR endpoint"),
            "upgrade the running node, or restart `meridian up`",
        ),
    }
}

/// The S3 API answers an anonymous ListBuckets with S3's `AccessDenied` document.
fn s3(status: &serde_json::Value) -> Check {
    endpoint(
        status,
        Endpoint {
            name: "S3 API",
            flag: "--s3-addr",
            expect: "<Code>AccessDenied</Code>",
            detail: format!(
                "{} bucket(s); access key {}",
                status["buckets"].as_u64().unwrap_or(0),
                status["access_key_id"].as_str().unwrap_or("-")
            ),
        },
    )
}

/// The DynamoDB API answers its health line (a plain GET, as load balancers probe it).
fn dynamodb(status: &serde_json::Value) -> Check {
    endpoint(
        status,
        Endpoint {
            name: "DynamoDB API",
            flag: "--dynamodb-addr",
            expect: "healthy: ",
            detail: format!(
                "{} table(s); access key {} (secrets in {})",
                status["tables"].as_u64().unwrap_or(0),
                status["access_key_id"].as_str().unwrap_or("-"),
                status["key_file"].as_str().unwrap_or("-")
            ),
        },
    )
}

fn collect(args: &Args) -> Vec<Check> {
    let mut checks = vec![state_dir(args.target.state_dir())];
    let status = args.target.json("GET", "/api/v1/status");
    let admin = args.target.addr().ok();
    match (&status, admin) {
        (Ok(_), Some(addr)) => checks.push(pass(
            "node",
            format!("meridian up answers on its admin address {addr}"),
        )),
        (Err(e), _) => {
            let text = format!("{e:#}");
            // The client's message ends with the same advice as the hint.
            let detail = text
                .split_once(": start one")
                .or_else(|| text.split_once("; is `meridian up` running?"))
                .map_or(text.as_str(), |(d, _)| d);
            checks.push(fail(
                "node",
                detail.to_owned(),
                "start one with `meridian up`, or pass --admin ADDR",
            ));
            // Before starting: the default ports must be free.
            for (what, addr, flag) in [
                ("admin port", "127.0.0.1:15000", "--admin-addr 127.0.0.1:0"),
                ("gateway port", "127.0.0.1:8080", "--gateway-port 80=0"),
                (
                    "DynamoDB port",
                    "127.0.0.1:8000",
                    "--dynamodb-addr 127.0.0.1:0",
                ),
                ("S3 port", "127.0.0.1:9000", "--s3-addr 127.0.0.1:0"),
            ] {
                checks.push(if port_free(addr) {
                    pass(what, format!("{addr} is free"))
                } else {
                    fail(
                        what,
                        format!("{addr} is taken"),
                        format!("stop what listens there, or pass {flag} to `meridian up`"),
                    )
                });
            }
        }
        (Ok(_), None) => {}
    }
    checks.push(ca(args.target.state_dir()));
    let Ok(status) = status else {
        return checks;
    };
    let revision = status["revision"].as_u64().unwrap_or(0);
    let refused = &status["refused"];
    checks.push(match refused["revision"].as_u64() {
        Some(n) => fail(
            "configuration",
            format!(
                "revision {n} was refused: {}; revision {revision} is still in force",
                refused["reason"].as_str().unwrap_or("no reason given")
            ),
            "fix what the reason names; the next change to the files is applied again",
        ),
        None => pass(
            "configuration",
            format!("revision {revision} is valid and in force"),
        ),
    });
    checks.push(match args.target.send("GET", "/metrics") {
        Ok((200, _)) => pass("metrics", "/metrics answers (Prometheus text format)"),
        Ok((code, _)) => fail(
            "metrics",
            format!("/metrics answered {code}"),
            "look at the node's output",
        ),
        Err(e) => fail(
            "metrics",
            format!("/metrics: {e:#}"),
            "look at the node's output",
        ),
    });
    checks.push(match status["functions_memory_limit"].as_str() {
        Some(how) => pass(
            "function memory limits",
            format!("MemorySize is enforced by {how}"),
        ),
        None => skip("function memory limits", "no functions are loaded"),
    });
    checks.push(dynamodb(&status["dynamodb"]));
    checks.push(s3(&status["s3"]));
    let sync = &status["endpoints"];
    let version = sync["version"].as_u64().unwrap_or(0);
    checks.push(if sync["synced"] == true {
        pass(
            "data plane",
            format!("routing and inbound sidecars have endpoint table version {version}"),
        )
    } else {
        fail(
            "data plane",
            format!(
                "behind the workloads: endpoint table version {version}, routing has {}, inbound sidecars {}",
                sync["routing"].as_u64().unwrap_or(0),
                sync["sidecars"].as_u64().unwrap_or(0)
            ),
            "it catches up within milliseconds; if it stays behind, look for \"no inbound sidecar\" in the node's output",
        )
    });
    let workloads = status["workloads"].as_array().cloned().unwrap_or_default();
    let mut unready = Vec::new();
    for w in &workloads {
        let name = w["workload"]["name"].as_str().unwrap_or("?");
        let (ready, desired) = (
            w["ready"].as_u64().unwrap_or(0),
            w["desired"].as_u64().unwrap_or(0),
        );
        if ready < desired {
            unready.push(format!("{name} {ready}/{desired}"));
        }
    }
    checks.push(if unready.is_empty() {
        pass(
            "workloads",
            format!(
                "all {} workloads have their replicas ready",
                workloads.len()
            ),
        )
    } else {
        fail(
            "workloads",
            format!("not ready: {}", unready.join(", ")),
            "see `meridian ps`, then `meridian logs WORKLOAD` for the failing replicas",
        )
    });
    checks
}

pub(crate) fn run(args: &Args, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let checks = collect(args);
    let ok = checks.iter().all(|c| c.ok);
    if format != OutputFormat::Table {
        print_structured(format, &checks)?;
    } else {
        let color = std::io::IsTerminal::is_terminal(&std::io::stdout());
        let paint = |code: &str, s: &str| {
            if color {
                format!("\x1b[{code}m{s}\x1b[0m")
            } else {
                s.to_owned()
            }
        };
        for c in &checks {
            let mark = if c.skipped {
                paint("33", "-")
            } else if c.ok {
                paint("32", "√")
            } else {
                paint("31", "×")
            };
            println!("{mark} {}: {}", c.name, c.detail);
            if let Some(h) = &c.hint {
                println!("    hint: {h}");
            }
        }
        println!();
        println!(
            "Status check results are {}",
            if ok {
                paint("32", "√")
            } else {
                paint("31", "×")
            }
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
