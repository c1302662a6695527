//! Istio-standard Prometheus metrics, `/federate`, tracing (W3C and B3, OTLP export) and
//! access logs.
