//! How compiled values that have no serde form of their own (durations, header names and
//! values, regexes, bytes) are written when a snapshot is shown (`meridian get`, admin API).

use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde::Serializer;

/// `1.5s`, `250ms`: the form Istio users write.
pub(crate) fn duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&duration_text(*d))
}

/// An optional duration, as [`duration`].
pub(crate) fn opt_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&duration_text(*d)),
        None => s.serialize_none(),
    }
}

/// Text of a duration: whole seconds as `Ns`, otherwise milliseconds.
pub fn duration_text(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}us", d.as_micros())
    }
}

/// A header name.
pub(crate) fn header_name<S: Serializer>(n: &HeaderName, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(n.as_str())
}

/// An optional header value.
pub(crate) fn opt_header_value<S: Serializer>(
    v: &Option<HeaderValue>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_some(&String::from_utf8_lossy(v.as_bytes())),
        None => s.serialize_none(),
    }
}

/// Name/value pairs as a map.
pub(crate) fn header_pairs<S: Serializer>(
    pairs: &[(HeaderName, HeaderValue)],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(pairs.len()))?;
    for (n, v) in pairs {
        m.serialize_entry(n.as_str(), &String::from_utf8_lossy(v.as_bytes()))?;
    }
    m.end()
}

/// A list of header names.
pub(crate) fn header_names<S: Serializer>(names: &[HeaderName], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(names.iter().map(HeaderName::as_str))
}

/// Bytes, shown as text.
pub(crate) fn bytes<S: Serializer>(b: &bytes::Bytes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(b))
}
