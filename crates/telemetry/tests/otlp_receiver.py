"""A minimal OTLP/HTTP trace receiver for tests, decoding with the official protobuf
definitions (PyPI package opentelemetry-proto).

Prints "PORT <n>" once listening on 127.0.0.1:0. POST /v1/traces takes
application/x-protobuf ExportTraceServiceRequest bodies; GET /spans returns what was
received as JSON (ids in hex); GET /posts returns how many POSTs arrived.
--fail-first N answers the first N POSTs with 503 to exercise retries.
"""
import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

LOCK = threading.Lock()
SPANS = []
POSTS = {"count": 0, "failed": 0}


def value(any_value: common_pb2.AnyValue):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def attributes(kvs):
    return {kv.key: value(kv.value) for kv in kvs}


class Handler(BaseHTTPRequestHandler):
    fail_first = 0

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with LOCK:
            POSTS["count"] += 1
            fail = POSTS["count"] <= Handler.fail_first
        if fail:
            self.reply(503, b"try again", "text/plain")
            return
        if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
            self.reply(415, b"want application/x-protobuf on /v1/traces", "text/plain")
            return
        request = trace_service_pb2.ExportTraceServiceRequest()
        try:
            request.ParseFromString(body)
        except DecodeError as e:
            with LOCK:
                POSTS["failed"] += 1
            self.reply(400, str(e).encode(), "text/plain")
            return
        received = []
        for rs in request.resource_spans:
            resource = attributes(rs.resource.attributes)
            for ss in rs.scope_spans:
                for span in ss.spans:
                    received.append({
                        "resource": resource,
                        "scope": ss.scope.name,
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "trace_state": span.trace_state,
                        "name": span.name,
                        "kind": span.kind,
                        "start": span.start_time_unix_nano,
                        "end": span.end_time_unix_nano,
                        "attributes": attributes(span.attributes),
                        "status_code": span.status.code,
                        "status_message": span.status.message,
                        "flags": span.flags,
                    })
        with LOCK:
            SPANS.extend(received)
        self.reply(200, trace_service_pb2.ExportTraceServiceResponse().SerializeToString(),
                   "application/x-protobuf")

    def do_GET(self):
        with LOCK:
            if self.path == "/spans":
                body = json.dumps(SPANS).encode()
            elif self.path == "/posts":
                body = json.dumps(POSTS).encode()
            else:
                self.reply(404, b"not found", "text/plain")
                return
        self.reply(200, body, "application/json")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--fail-first", type=int, default=0)
    args = parser.parse_args()
    Handler.fail_first = args.fail_first
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    # Stop when the test closes our stdin (or dies).
    threading.Thread(target=lambda: (sys.stdin.read(), server.shutdown()), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
