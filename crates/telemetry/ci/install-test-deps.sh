#!/usr/bin/env bash
# Installs what meridian-telemetry's integration tests run against, on Debian:
#   prometheus (and its promtool)  - tests/promtool.rs, tests/prometheus.rs
#   python3 + opentelemetry-proto  - tests/otlp.rs (a real OTLP/HTTP receiver)
# Under CI (CI set) those tests fail instead of skipping when a program is missing.
# .ci/run should call this script before `cargo test`.
set -euo pipefail
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq prometheus >/dev/null
fi
if ! python3 -c 'import opentelemetry.proto.collector.trace.v1.trace_service_pb2' 2>/dev/null; then
  python3 -m pip install --quiet 'opentelemetry-proto>=1.20' \
    || python3 -m pip install --quiet --break-system-packages 'opentelemetry-proto>=1.20'
fi
