//! Envoy's `%RESPONSE_FLAGS%`: what went wrong with a request or connection, as short codes.

use std::fmt;

/// A set of Envoy response flags (`UH`, `UF`, `URX`, ...), stored as bits in one `u32`.
///
/// Rendered as Envoy renders it: the short codes joined by `,` in Envoy's table order, or `-`
/// when empty. The same value feeds the `response_flags` metric label, access logs and spans.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ResponseFlags(u32);

macro_rules! flags {
    ($( $(#[$doc:meta])* $name:ident = $bit:expr, $short:literal, $long:literal; )*) => {
        impl ResponseFlags {
            $( $(#[$doc])* pub const $name: ResponseFlags = ResponseFlags(1 << $bit); )*
        }
        /// Envoy's table, in the order Envoy prints the flags (`ALL_RESPONSE_STRINGS_FLAGS`).
        const TABLE: &[(ResponseFlags, &str, &str)] = &[ $( (ResponseFlags::$name, $short, $long), )* ];
    };
}

flags! {
    /// `LH`: the local service failed its health check (503).
    FAILED_LOCAL_HEALTH_CHECK = 0, "LH", "FailedLocalHealthCheck";
    /// `UH`: no healthy upstream host (503).
    NO_HEALTHY_UPSTREAM = 1, "UH", "NoHealthyUpstream";
    /// `UT`: upstream request timeout (504).
    UPSTREAM_REQUEST_TIMEOUT = 2, "UT", "UpstreamRequestTimeout";
    /// `LR`: connection local reset (503).
    LOCAL_RESET = 3, "LR", "LocalReset";
    /// `UR`: upstream remote reset (503).
    UPSTREAM_REMOTE_RESET = 4, "UR", "UpstreamRemoteReset";
    /// `UF`: upstream connection failure (503).
    UPSTREAM_CONNECTION_FAILURE = 5, "UF", "UpstreamConnectionFailure";
    /// `UC`: upstream connection termination (503).
    UPSTREAM_CONNECTION_TERMINATION = 6, "UC", "UpstreamConnectionTermination";
    /// `UO`: upstream overflow, the circuit breaker tripped (503).
    UPSTREAM_OVERFLOW = 7, "UO", "UpstreamOverflow";
    /// `NR`: no route configured (404).
    NO_ROUTE_FOUND = 8, "NR", "NoRouteFound";
    /// `DI`: the request was delayed by fault injection.
    DELAY_INJECTED = 9, "DI", "DelayInjected";
    /// `FI`: the request was aborted by fault injection.
    FAULT_INJECTED = 10, "FI", "FaultInjected";
    /// `RL`: rate limited locally (429).
    RATE_LIMITED = 11, "RL", "RateLimited";
    /// `UAEX`: denied by the external authorization service.
    UNAUTHORIZED_EXTERNAL_SERVICE = 12, "UAEX", "UnauthorizedExternalService";
    /// `RLSE`: the rate limit service failed.
    RATE_LIMIT_SERVICE_ERROR = 13, "RLSE", "RateLimitServiceError";
    /// `DC`: downstream connection termination.
    DOWNSTREAM_CONNECTION_TERMINATION = 14, "DC", "DownstreamConnectionTermination";
    /// `URX`: the retry limit (HTTP) or connect attempt limit (TCP) was reached.
    UPSTREAM_RETRY_LIMIT_EXCEEDED = 15, "URX", "UpstreamRetryLimitExceeded";
    /// `SI`: stream idle timeout (408).
    STREAM_IDLE_TIMEOUT = 16, "SI", "StreamIdleTimeout";
    /// `IH`: invalid `x-envoy-*` request headers.
    INVALID_ENVOY_REQUEST_HEADERS = 17, "IH", "InvalidEnvoyRequestHeaders";
    /// `DPE`: downstream protocol error.
    DOWNSTREAM_PROTOCOL_ERROR = 18, "DPE", "DownstreamProtocolError";
    /// `UMSDR`: upstream max stream duration reached.
    UPSTREAM_MAX_STREAM_DURATION_REACHED = 19, "UMSDR", "UpstreamMaxStreamDurationReached";
    /// `RFCF`: the response came from the cache.
    RESPONSE_FROM_CACHE_FILTER = 20, "RFCF", "ResponseFromCacheFilter";
    /// `NFCF`: no filter config found.
    NO_FILTER_CONFIG_FOUND = 21, "NFCF", "NoFilterConfigFound";
    /// `DT`: the request exceeded its max duration.
    DURATION_TIMEOUT = 22, "DT", "DurationTimeout";
    /// `UPE`: upstream protocol error.
    UPSTREAM_PROTOCOL_ERROR = 23, "UPE", "UpstreamProtocolError";
    /// `NC`: no cluster found.
    NO_CLUSTER_FOUND = 24, "NC", "NoClusterFound";
    /// `OM`: terminated by the overload manager.
    OVERLOAD_MANAGER = 25, "OM", "OverloadManagerTerminated";
    /// `DF`: DNS resolution failed.
    DNS_RESOLUTION_FAILED = 26, "DF", "DnsResolutionFailed";
}

impl ResponseFlags {
    /// No flag: rendered `-`.
    pub const NONE: ResponseFlags = ResponseFlags(0);

    /// The raw bits; stable within one build only.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every flag of `other` is set in `self`.
    pub const fn contains(self, other: ResponseFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Adds the flags of `other`.
    pub fn insert(&mut self, other: ResponseFlags) {
        self.0 |= other.0;
    }

    /// Parses one short code (`"UH"`), as used in config and tests.
    pub fn from_short(code: &str) -> Option<ResponseFlags> {
        TABLE
            .iter()
            .find(|(_, s, _)| *s == code)
            .map(|(f, _, _)| *f)
    }

    /// Parses Envoy's rendering: `-` or short codes joined by `,`.
    pub fn parse(text: &str) -> Option<ResponseFlags> {
        if text == "-" {
            return Some(ResponseFlags::NONE);
        }
        let mut flags = ResponseFlags::NONE;
        for code in text.split(',') {
            flags.insert(ResponseFlags::from_short(code)?);
        }
        Some(flags)
    }

    /// Iterates over the set flags' short codes in Envoy's order.
    pub fn short_codes(self) -> impl Iterator<Item = &'static str> {
        TABLE
            .iter()
            .filter(move |(f, _, _)| self.contains(*f))
            .map(|(_, s, _)| *s)
    }

    /// Iterates over the set flags' long names (`NoHealthyUpstream`) in Envoy's order.
    pub fn long_names(self) -> impl Iterator<Item = &'static str> {
        TABLE
            .iter()
            .filter(move |(f, _, _)| self.contains(*f))
            .map(|(_, _, l)| *l)
    }

    /// Appends Envoy's rendering to `out` without allocating.
    pub fn write_to(self, out: &mut String) {
        if self.is_empty() {
            out.push('-');
            return;
        }
        for (i, code) in self.short_codes().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(code);
        }
    }
}

impl std::ops::BitOr for ResponseFlags {
    type Output = ResponseFlags;
    fn bitor(self, rhs: ResponseFlags) -> ResponseFlags {
        ResponseFlags(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for ResponseFlags {
    fn bitor_assign(&mut self, rhs: ResponseFlags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Display for ResponseFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.write_to(&mut s);
        f.write_str(&s)
    }
}

impl fmt::Debug for ResponseFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResponseFlags({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::ResponseFlags;
    use test_case::test_case;

    #[test_case(ResponseFlags::NONE, "-" ; "none is a dash")]
    #[test_case(ResponseFlags::NO_HEALTHY_UPSTREAM, "UH" ; "one flag")]
    #[test_case(ResponseFlags::UPSTREAM_RETRY_LIMIT_EXCEEDED | ResponseFlags::UPSTREAM_CONNECTION_FAILURE, "UF,URX" ; "envoy table order, not insertion order")]
    #[test_case(ResponseFlags::DELAY_INJECTED | ResponseFlags::FAULT_INJECTED, "DI,FI" ; "faults")]
    fn renders_like_envoy(flags: ResponseFlags, text: &str) {
        assert_eq!(flags.to_string(), text);
        assert_eq!(ResponseFlags::parse(text), Some(flags));
    }

    #[test]
    fn unknown_code_does_not_parse() {
        assert_eq!(ResponseFlags::parse("UH,XX"), None);
    }
}
