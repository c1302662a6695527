//! The data plane: listeners, HTTP/1.1 and HTTP/2, routing, load balancing, retries,
//! timeouts, faults, connection pools, outlier detection, mTLS and the edge cache.
