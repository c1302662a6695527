# Meridian's Azure Functions Python worker. It plays the part of the Functions host's Python
# worker: it loads the app from $AzureWebJobsScriptRoot and runs the invocations Meridian hands
# it through its Runtime API ($AWS_LAMBDA_RUNTIME_API), one at a time.
#
# * v2 (function_app.py with azure.functions.FunctionApp and its decorators): the functions
#   the app registered, with the real `azure-functions` package's request and response types.
# * v1 (function.json beside __init__.py, `def main(req)`).
#
# `python3 azure-python.py --index` loads the app, prints the functions it declares as JSON
# and exits: Meridian routes requests with that list.
import asyncio
import base64
import http.client
import importlib.util
import inspect
import json
import os
import sys
import traceback

ROOT = os.environ.get("AzureWebJobsScriptRoot") or os.getcwd()
API = os.environ.get("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
HOST, PORT = API.rsplit(":", 1)
BASE = "/2018-06-01/runtime"

if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
# The packages the app installed next to it (`pip install --target .python_packages/...`).
for extra in (".python_packages/lib/site-packages",):
    p = os.path.join(ROOT, extra)
    if os.path.isdir(p) and p not in sys.path:
        sys.path.insert(1, p)

conn = None


def request(method, path, body=None, headers=None):
    global conn
    for attempt in range(2):
        try:
            if conn is None:
                conn = http.client.HTTPConnection(HOST, int(PORT))
            conn.request(method, BASE + path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
        except (http.client.HTTPException, OSError):
            conn = None
            if attempt:
                raise


def post_error(path, exc):
    body = json.dumps(
        {
            "errorType": type(exc).__name__,
            "errorMessage": str(exc),
            "stackTrace": traceback.format_exception(type(exc), exc, exc.__traceback__),
        }
    )
    request(
        "POST",
        path,
        body.encode(),
        {"Content-Type": "application/json", "Lambda-Runtime-Function-Error-Type": type(exc).__name__},
    )


def load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


# v1: the functions of function.json files, from Meridian.
V1 = {f["name"].lower(): f for f in json.loads(os.environ.get("MERIDIAN_AZURE_FUNCTIONS") or "[]")}
# v2: the functions the app registered: name -> (bindings, callable).
V2 = {}


def load_app():
    if V1:
        return
    script = os.path.join(ROOT, os.environ.get("PYTHON_SCRIPT_FILE_NAME", "function_app.py"))
    if not os.path.isfile(script):
        return
    mod = load_module(script, "function_app")
    for value in list(vars(mod).values()):
        get = getattr(value, "get_functions", None)
        if not callable(get) or isinstance(value, type):
            continue
        for fn in get():
            bindings = [json.loads(b) for b in fn.get_raw_bindings()]
            V2[fn.get_function_name().lower()] = (fn.get_function_name(), bindings, fn.get_user_function())


def index():
    out = []
    for name, bindings, _ in V2.values():
        out.append({"name": name, "bindings": [normalise(b) for b in bindings]})
    return out


def normalise(b):
    b = dict(b)
    b["direction"] = str(b.get("direction", "")).lower()
    if "authLevel" in b and b["authLevel"] is not None:
        b["authLevel"] = str(b["authLevel"]).lower()
    return b


def call(fn, kwargs):
    params = inspect.signature(fn).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    result = fn(**kwargs)
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    return result


def http_reply(result):
    import azure.functions as func  # the app's own dependency

    if result is None:
        return {"status": 204, "headers": {}, "body": ""}
    if isinstance(result, (str, bytes)):
        result = func.HttpResponse(result)
    if not isinstance(result, func.HttpResponse):
        raise TypeError(f"unable to convert {type(result).__name__} to an HTTP response; return an azure.functions.HttpResponse")
    headers = {k: v for k, v in result.headers.items()}
    if not any(k.lower() == "content-type" for k in headers):
        mt = result.mimetype or "text/plain"
        headers["Content-Type"] = f"{mt}; charset={result.charset}" if result.charset else mt
    body = result.get_body() or b""
    return {"status": int(result.status_code), "headers": headers, "body": base64.b64encode(body).decode()}


class Out:
    """An output binding's value holder (`func.Out[T]`), as the host's worker gives it."""

    def __init__(self):
        self._value = None

    def set(self, value):
        self._value = value

    def get(self):
        return self._value


def blob_value(fn, name, value, metadata):
    """A blob for parameter `name`: text or bytes when annotated so, else an InputStream made
    by the package's own converter."""
    if value is None:
        return None
    text = value.get("string")
    raw = base64.b64decode(value["bytes"]) if "bytes" in value else text.encode()
    param = inspect.signature(fn).parameters.get(name)
    annotation = param.annotation if param is not None else None
    if annotation is str:
        return text if text is not None else raw.decode("utf-8", "replace")
    if annotation is bytes:
        return raw
    from azure.functions.blob import BlobConverter
    from azure.functions.meta import Datum

    datum = Datum(text, "string") if text is not None else Datum(raw, "bytes")
    meta = {
        k: Datum(v, "string") if isinstance(v, str) else Datum(json.dumps(v), "json")
        for k, v in (metadata or {}).items()
    }
    return BlobConverter.decode(datum, trigger_metadata=meta)


def blob_output(value):
    if value is None:
        return None
    if hasattr(value, "read"):
        value = value.read()
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, str):
        return {"string": value}
    return {"json": json.dumps(value)}


def invoke(ev):
    import azure.functions as func

    key = str(ev.get("function", "")).lower()
    trigger = ev.get("trigger")
    if key in V2:
        _, bindings, fn = V2[key]
    elif key in V1:
        meta = V1[key]
        bindings = meta["bindings"]
        script = meta.get("scriptFile") or os.path.join(meta["dir"], "__init__.py")
        mod = load_module(script, "meridian_fn_" + key)
        fn = getattr(mod, meta.get("entryPoint") or "main", None)
        if fn is None:
            raise AttributeError(f"function '{meta['name']}' has no entry point '{meta.get('entryPoint') or 'main'}'")
    else:
        raise LookupError(f"Function '{ev.get('function')}' does not exist in this app")
    tname = next(
        (b["name"] for b in bindings if str(b.get("direction", "")).lower() == "in" and str(b.get("type", "")).endswith("Trigger")),
        "req",
    )
    # blob inputs by parameter name; blob outputs as Out holders.
    extra = {}
    for name, value in (ev.get("inputs") or {}).items():
        extra[name] = blob_value(fn, name, value, None)
    outs = {
        b["name"]: Out()
        for b in bindings
        if str(b.get("direction", "")).lower() == "out" and b.get("type") == "blob" and b["name"] != "$return"
    }
    extra.update(outs)

    def outputs(result):
        got = {name: blob_output(o.get()) for name, o in outs.items()}
        if any(b["name"] == "$return" and b.get("type") == "blob" for b in bindings):
            got["$return"] = blob_output(result)
        return {k: v for k, v in got.items() if v is not None}
    if trigger == "http":
        r = ev["request"]
        body = base64.b64decode(r["body"]) if r.get("body") else b""
        req = func.HttpRequest(
            method=r["method"],
            url=r["url"],
            headers=r.get("headers") or {},
            params=r.get("query") or {},
            route_params=r.get("params") or {},
            body=body,
        )
        reply = http_reply(call(fn, {tname: req, **extra}))
        reply["outputs"] = outputs(None)
        return reply
    if trigger == "timer":
        t = ev.get("timer") or {}
        try:
            from azure.functions.timer import TimerRequest

            value = TimerRequest(
                past_due=bool(t.get("IsPastDue")),
                schedule_status=t.get("ScheduleStatus"),
                schedule=t.get("Schedule"),
            )
        except (ImportError, TypeError):
            value = t
        return {"outputs": outputs(call(fn, {tname: value, **extra}))}
    if trigger == "blob":
        blob = blob_value(fn, tname, ev.get("blob"), ev.get("triggerMetadata"))
        return {"outputs": outputs(call(fn, {tname: blob, **extra}))}
    return {"outputs": outputs(call(fn, {tname: ev.get("input"), **extra}))}


def main():
    if "--index" in sys.argv:
        try:
            load_app()
            print(json.dumps({"functions": index()}))
            sys.exit(0)
        except Exception as e:  # the app's own import errors
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
            sys.exit(1)
    try:
        load_app()
    except Exception as e:
        post_error("/init/error", e)
        sys.exit(1)
    while True:
        status, headers, body = request("GET", "/invocation/next")
        rid = headers.get("lambda-runtime-aws-request-id", "")
        try:
            ev = json.loads(body)
            reply = invoke(ev)
            # The Functions host has no 6 MB cap on a reply (blob outputs, HTTP bodies): the
            # streaming response mode lifts Lambda's to 200 MB.
            request(
                "POST",
                f"/invocation/{rid}/response",
                json.dumps(reply).encode(),
                {"Content-Type": "application/json", "Lambda-Runtime-Function-Response-Mode": "streaming"},
            )
        except Exception as e:
            print("Exception: " + "".join(traceback.format_exception(type(e), e, e.__traceback__)), file=sys.stderr, flush=True)
            post_error(f"/invocation/{rid}/error", e)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
