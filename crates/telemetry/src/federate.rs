//! `/federate` with Prometheus' semantics: `match[]` selectors (a union), the latest sample of
//! each selected series with its timestamp, external labels added unless the series has the
//! label, output sorted by metric name and grouped into families typed `untyped`, as
//! Prometheus' own federation handler writes them.

use crate::Error;
use crate::exposition::{write_labels, write_value};
use crate::metrics::{MetricFamily, valid_label_name};
use crate::selector::Selector;
use std::fmt::Write;
use std::time::Duration;

/// One series' latest sample.
#[derive(Debug, Clone, PartialEq)]
pub struct FederatedSample {
    /// The full series name (`istio_request_duration_milliseconds_bucket`).
    pub name: String,
    /// Its labels, sorted by name.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
    /// When it was sampled, in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// Flattens gathered families into series stamped `timestamp_ms` (a live registry's samples
/// are all current).
pub fn samples_from(families: &[MetricFamily], timestamp_ms: i64) -> Vec<FederatedSample> {
    let mut out = Vec::new();
    for f in families {
        for s in &f.samples {
            let mut labels: Vec<(String, String)> = s
                .labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            labels.sort();
            out.push(FederatedSample {
                name: format!("{}{}", f.name, s.suffix),
                labels,
                value: s.value,
                timestamp_ms,
            });
        }
    }
    out
}

/// Prometheus' staleness marker, a NaN with this bit pattern, is never federated.
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// The content type of the federation response.
pub const CONTENT_TYPE: &str = crate::exposition::CONTENT_TYPE;

/// The federation endpoint's configuration: external labels and the lookback window.
#[derive(Debug, Clone)]
pub struct Federation {
    external: Vec<(String, String)>,
    lookback: Duration,
}

impl Federation {
    /// Federation with these external labels (e.g. `region`). As Prometheus does,
    /// `instance=""` is added to the set unless it names `instance` itself.
    pub fn new<K: AsRef<str>, V: AsRef<str>>(
        external_labels: &[(K, V)],
    ) -> Result<Federation, Error> {
        let mut external: Vec<(String, String)> = Vec::new();
        for (k, v) in external_labels {
            let k = k.as_ref();
            if !valid_label_name(k) || k.starts_with("__") {
                return Err(Error::InvalidLabelName {
                    metric: "external_labels".to_owned(),
                    label: k.to_owned(),
                });
            }
            external.retain(|(name, _)| name != k);
            external.push((k.to_owned(), v.as_ref().to_owned()));
        }
        if !external.iter().any(|(k, _)| k == "instance") {
            external.push(("instance".to_owned(), String::new()));
        }
        external.sort();
        Ok(Federation {
            external,
            lookback: Duration::from_secs(5 * 60),
        })
    }

    /// Series whose latest sample is older than this are skipped (Prometheus'
    /// `--query.lookback-delta`, 5 minutes by default).
    pub fn with_lookback(mut self, lookback: Duration) -> Federation {
        self.lookback = lookback;
        self
    }

    /// The external labels, sorted, including the implicit `instance`.
    pub fn external_labels(&self) -> &[(String, String)] {
        &self.external
    }

    /// Writes the series selected by any of `selectors` into `out`.
    pub fn render(
        &self,
        selectors: &[Selector],
        samples: impl IntoIterator<Item = FederatedSample>,
        now_ms: i64,
        out: &mut String,
    ) {
        let oldest =
            now_ms.saturating_sub(i64::try_from(self.lookback.as_millis()).unwrap_or(i64::MAX));
        let mut selected: Vec<FederatedSample> = samples
            .into_iter()
            .filter(|s| s.timestamp_ms >= oldest && s.timestamp_ms <= now_ms)
            .filter(|s| s.value.to_bits() != STALE_NAN)
            .filter(|s| selectors.iter().any(|sel| sel.matches(&s.name, &s.labels)))
            .collect();
        selected.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.labels.cmp(&b.labels)));
        // The same series may be selected by several match[]: keep it once.
        selected.dedup_by(|a, b| a.name == b.name && a.labels == b.labels);
        let mut family: Option<&str> = None;
        for s in &selected {
            if s.name.is_empty() {
                continue;
            }
            if family != Some(s.name.as_str()) {
                let _ = writeln!(out, "# TYPE {} untyped", s.name);
                family = Some(s.name.as_str());
            }
            out.push_str(&s.name);
            // Empty values mean "unset" and are skipped, as Prometheus does.
            let own = s.labels.iter().filter(|(_, v)| !v.is_empty());
            let external = self
                .external
                .iter()
                .filter(|(k, _)| !s.labels.iter().any(|(n, v)| n == k && !v.is_empty()));
            write_labels(
                out,
                own.chain(external).map(|(k, v)| (k.as_str(), v.as_str())),
            );
            out.push(' ');
            write_value(out, s.value);
            let _ = writeln!(out, " {}", s.timestamp_ms);
        }
    }
}

/// The `match[]` selectors of a query string, decoded like Go's `url.ParseQuery`.
pub fn match_params(query: Option<&str>) -> Result<Vec<Selector>, Error> {
    let mut selectors = Vec::new();
    for pair in query.unwrap_or("").split('&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if form_decode(k)? == "match[]" {
            selectors.push(Selector::parse(&form_decode(v)?)?);
        }
    }
    Ok(selectors)
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte.
fn form_decode(s: &str) -> Result<String, Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) if hex.is_some_and(|h| h.bytes().all(|c| c.is_ascii_hexdigit())) => {
                        out.push(b);
                        i += 3;
                    }
                    _ => {
                        let end = (i + 3).min(bytes.len());
                        return Err(Error::FormEscape {
                            escape: String::from_utf8_lossy(&bytes[i..end]).into_owned(),
                        });
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str, labels: &[(&str, &str)], value: f64, ts: i64) -> FederatedSample {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        labels.sort();
        FederatedSample {
            name: name.to_owned(),
            labels,
            value,
            timestamp_ms: ts,
        }
    }

    #[test]
    fn union_sorted_grouped_with_external_labels() {
        let fed = Federation::new(&[("region", "eu")]).expect("valid");
        let selectors = match_params(Some(
            "match[]=%7B__name__%3D~%22b.*%22%7D&match[]=a_total%7Bjob%3D%22x%22%7D&match[]=b_total",
        ))
        .expect("parses");
        let samples = vec![
            sample("b_total", &[("job", "y")], 2.0, 1000),
            sample("a_total", &[("job", "x")], 1.5, 1000),
            sample("a_total", &[("job", "z")], 9.0, 1000),
            sample("b_total", &[("job", "x"), ("region", "us")], 3.0, 900),
            sample("c", &[], 1.0, 1000),
        ];
        let mut out = String::new();
        fed.render(&selectors, samples, 1000, &mut out);
        assert_eq!(
            out,
            "# TYPE a_total untyped\n\
             a_total{job=\"x\",instance=\"\",region=\"eu\"} 1.5 1000\n\
             # TYPE b_total untyped\n\
             b_total{job=\"x\",region=\"us\",instance=\"\"} 3 900\n\
             b_total{job=\"y\",instance=\"\",region=\"eu\"} 2 1000\n"
        );
    }

    #[test]
    fn stale_old_and_empty_labels() {
        let fed = Federation::new(&[("region", "eu"), ("instance", "node-1")]).expect("valid");
        let selectors = match_params(Some("match[]=m")).expect("parses");
        let samples = vec![
            sample("m", &[("a", "1")], f64::from_bits(STALE_NAN), 1000),
            sample("m", &[("a", "2")], 1.0, 1000 - 301_000),
            sample("m", &[("a", "3"), ("region", "")], 1.0, 1000),
        ];
        let mut out = String::new();
        fed.render(&selectors, samples, 1000, &mut out);
        assert_eq!(
            out,
            "# TYPE m untyped\nm{a=\"3\",instance=\"node-1\",region=\"eu\"} 1 1000\n"
        );
    }

    #[test]
    fn bad_selector_and_bad_escape() {
        let err = match_params(Some("match[]=foo%7B")).expect_err("bad selector");
        assert_eq!(
            err.to_string(),
            "1:5: parse error: unexpected end of input inside braces"
        );
        let err = match_params(Some("match[]=%zz")).expect_err("bad escape");
        assert_eq!(
            err.to_string(),
            "error parsing form values: invalid URL escape \"%zz\""
        );
        assert!(match_params(None).expect("no params").is_empty());
    }
}
