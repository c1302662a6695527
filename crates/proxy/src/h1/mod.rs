//! Meridian's own HTTP/1.1: the fast path for the common exchange. Downstream, a connection
//! task parses each request head once, routes it through the same lifecycle as every other
//! request ([`crate::downstream`]), and writes the response head and body itself; upstream,
//! the request goes out on a pooled connection the task owns until the response ends. What
//! the fast path does not serve (HTTP/2, upgrades, chunked or large request bodies, HTTP/1.0,
//! other expectations) is handed with the connection's unread bytes to hyper, which serves the
//! connection from that request on.

pub(crate) mod chunked;
pub(crate) mod client;
pub(crate) mod fuzzing;
pub(crate) mod head;
pub(crate) mod interim;
pub(crate) mod sendfile;
pub(crate) mod server;
