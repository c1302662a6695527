# Meridian's Python bootstrap: a small Lambda runtime client speaking the Runtime API
# (2018-06-01) at $AWS_LAMBDA_RUNTIME_API. Loads $_HANDLER (module.function) from
# $LAMBDA_TASK_ROOT and reports errors in the shapes the AWS Python runtime uses.
import importlib
import json
import logging
import os
import socket
import sys
import time

API = os.environ.get("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
BASE = "/2018-06-01/runtime"
_sock = None
_request_id = None


class _Headers(dict):
    """Response headers, looked up case-insensitively like http.client's."""

    def get(self, key, default=None):
        return dict.get(self, key.lower(), default)


def _connect():
    host, _, port = API.rpartition(":")
    s = socket.create_connection((host, int(port)))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _read_response(f):
    status_line = f.readline()
    if not status_line:
        raise ConnectionError("runtime api closed the connection")
    status = int(status_line.split(b" ", 2)[1])
    headers = _Headers()
    while True:
        line = f.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        k, _, v = line.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0"))
    body = f.read(length) if length else b""
    return status, headers, body


# A small HTTP/1.1 client on one kept-alive connection: http.client costs more to import
# than the rest of this bootstrap, and every cold start pays for imports.
def _request(method, path, body=None, headers=None):
    global _sock
    if isinstance(body, str):
        body = body.encode("utf-8")
    body = body or b""
    head = "%s %s%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n" % (method, BASE, path, API, len(body))
    for k, v in (headers or {}).items():
        head += "%s: %s\r\n" % (k, v)
    data = head.encode("latin-1") + b"\r\n" + body
    for attempt in range(2):
        try:
            if _sock is None:
                _sock = _connect()
            _sock.sendall(data)
            f = _sock.makefile("rb")
            try:
                return _read_response(f)
            finally:
                f.close()
        except OSError:
            try:
                _sock.close()
            except Exception:
                pass
            _sock = None
            if attempt:
                raise


class _RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _request_id or "undefined"
        return True


def _setup_logging():
    handler = logging.StreamHandler(sys.stdout)
    fmt = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    fmt.converter = time.gmtime
    handler.setFormatter(fmt)
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "WARNING").upper())


class _ClientContext:
    """context.client_context, with the attributes the AWS Python runtime gives it."""

    def __init__(self, d):
        self.client = d.get("client")
        self.custom = d.get("custom")
        self.env = d.get("env")


class _CognitoIdentity:
    """context.identity."""

    def __init__(self, d):
        self.cognito_identity_id = d.get("cognitoIdentityId")
        self.cognito_identity_pool_id = d.get("cognitoIdentityPoolId")


class LambdaContext:
    def __init__(self, headers):
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self._deadline = int(headers.get("Lambda-Runtime-Deadline-Ms", "0"))
        cc = headers.get("Lambda-Runtime-Client-Context")
        ci = headers.get("Lambda-Runtime-Cognito-Identity")
        self.client_context = _ClientContext(json.loads(cc)) if cc else None
        self.identity = _CognitoIdentity(json.loads(ci)) if ci else None

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline - int(time.time() * 1000))

    def log(self, msg):
        sys.stdout.write(msg)


class _FaultError(Exception):
    def __init__(self, error_type, message, tb=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.tb = tb or []


def _load_handler():
    handler = os.environ.get("_HANDLER", "")
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    if task_root not in sys.path:
        sys.path.insert(0, task_root)
    try:
        module_path, fn_name = handler.rsplit(".", 1)
    except ValueError:
        raise _FaultError("Runtime.MalformedHandlerName", "Bad handler '%s': not enough values to unpack (expected 2, got 1)" % handler)
    module_name = module_path.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise _FaultError("Runtime.ImportModuleError", "Unable to import module '%s': %s" % (module_path, e))
    except SyntaxError as e:
        import traceback
        tb = traceback.format_list(traceback.extract_tb(e.__traceback__))
        raise _FaultError("Runtime.UserCodeSyntaxError", "Syntax error in module '%s': %s" % (module_path, e), tb)
    except Exception as e:
        import traceback
        tb = traceback.format_list(traceback.extract_tb(e.__traceback__))
        raise _FaultError(type(e).__name__, str(e), tb)
    fn = getattr(module, fn_name, None)
    if fn is None:
        raise _FaultError("Runtime.HandlerNotFound", "Handler '%s' missing on module '%s'" % (fn_name, module_path))
    return fn


class _Encoder(json.JSONEncoder):
    def default(self, o):
        import decimal
        if isinstance(o, decimal.Decimal):
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


def _error_body(error_type, message, tb, request_id=None):
    body = {"errorMessage": message, "errorType": error_type}
    if request_id:
        body["requestId"] = request_id
    body["stackTrace"] = tb
    return body


def _post_error(path, body):
    sys.stdout.write("[ERROR] %s: %s\n" % (body["errorType"], body["errorMessage"]))
    _request("POST", path, json.dumps(body), {
        "Content-Type": "application/json",
        "Lambda-Runtime-Function-Error-Type": body["errorType"],
    })


def main():
    global _request_id
    _setup_logging()
    try:
        fn = _load_handler()
    except _FaultError as e:
        _post_error("/init/error", _error_body(e.error_type, e.message, e.tb))
        sys.exit(1)
    while True:
        status, headers, body = _request("GET", "/invocation/next")
        request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        _request_id = request_id
        trace = headers.get("Lambda-Runtime-Trace-Id")
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        try:
            event = json.loads(body) if body else None
        except ValueError as e:
            _post_error("/invocation/%s/error" % request_id,
                        _error_body("Runtime.UnmarshalError", "Unable to unmarshal input: %s" % e, [], request_id))
            continue
        try:
            result = fn(event, LambdaContext(headers))
        except Exception as e:
            import traceback
            tb = traceback.format_list(traceback.extract_tb(e.__traceback__)[1:])
            _post_error("/invocation/%s/error" % request_id,
                        _error_body(type(e).__name__, str(e), tb, request_id))
            continue
        try:
            payload = json.dumps(result, cls=_Encoder)
        except (TypeError, ValueError) as e:
            _post_error("/invocation/%s/error" % request_id,
                        _error_body("Runtime.MarshalError", "Unable to marshal response: %s" % e, [], request_id))
            continue
        _request("POST", "/invocation/%s/response" % request_id, payload, {"Content-Type": "application/json"})


if __name__ == "__main__":
    main()
