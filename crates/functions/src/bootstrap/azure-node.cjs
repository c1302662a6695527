// Meridian's Azure Functions Node.js worker. It plays the part of the Functions host's Node
// worker: it loads the app from $AzureWebJobsScriptRoot in either programming model and runs
// invocations that Meridian hands it through its Runtime API ($AWS_LAMBDA_RUNTIME_API), one
// at a time.
//
// * v3 (function.json beside index.js): `module.exports = async function (context, req)`,
//   `context.res`, `context.bindings`, `context.done()`, a returned value for `$return`.
// * v4 (`@azure/functions` >= 4, found through package.json `main`): the library registers
//   its functions and its programming model through the `@azure/functions-core` module, which
//   the real worker provides and this one provides the same way.
//
// `node azure-node.cjs --index` loads the app, prints the functions it declares as JSON and
// exits: Meridian routes requests with that list, as the host does after its indexing call.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const util = require('util');
const Module = require('module');
const { pathToFileURL } = require('url');

const ROOT = process.env.AzureWebJobsScriptRoot || process.cwd();
const INDEX_ONLY = process.argv.includes('--index');

let currentInvocation = undefined;
// Lines go to stdout/stderr, which Meridian writes to the app's log between its Executing and
// Executed lines.
const out = (stream) => (...args) => { stream.write(util.format(...args) + '\n'); };
console.log = out(process.stdout);
console.info = out(process.stdout);
console.debug = out(process.stdout);
console.warn = out(process.stderr);
console.error = out(process.stderr);

// ---- @azure/functions-core ------------------------------------------------------------------

class Disposable {
  constructor(callOnDispose) { this._f = callOnDispose; }
  static from(...items) { return new Disposable(() => { for (const i of items) i.dispose(); }); }
  dispose() { if (this._f) { this._f(); this._f = undefined; } }
}

let programmingModel = undefined;
const registered = new Map();
const hooks = { preInvocation: [], postInvocation: [], appStart: [], appTerminate: [] };

const core = {
  version: '3.10.1',
  hostVersion: '4.1037.0',
  Disposable,
  registerFunction(metadata, callback) {
    if (!metadata || !metadata.name) throw new Error('A function must have a name.');
    if (registered.has(metadata.name.toLowerCase())) {
      throw new Error(`A function with the name "${metadata.name}" has already been registered.`);
    }
    registered.set(metadata.name.toLowerCase(), { metadata, callback });
    return new Disposable(() => registered.delete(metadata.name.toLowerCase()));
  },
  registerHook(name, callback) {
    const list = hooks[name];
    if (!list) throw new Error(`"${name}" is not a valid hook name.`);
    list.push(callback);
    return new Disposable(() => { const i = list.indexOf(callback); if (i >= 0) list.splice(i, 1); });
  },
  setProgrammingModel(model) { programmingModel = model; },
  getProgrammingModel() { return programmingModel; },
  log(level, category, message) {
    const s = level === 'error' || level === 'critical' || level === 'warning' ? process.stderr : process.stdout;
    if (category === 'system' && level !== 'error' && level !== 'warning') return;
    s.write(String(message) + '\n');
  },
  app: { hookData: {} },
};

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === '@azure/functions-core') return request;
  return resolveFilename.call(this, request, ...rest);
};
const load = Module._load;
Module._load = function (request, ...rest) {
  if (request === '@azure/functions-core') return core;
  return load.call(this, request, ...rest);
};

// ---- Runtime API --------------------------------------------------------------------------

const API = process.env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001';
const [HOST, PORT] = [API.slice(0, API.lastIndexOf(':')), Number(API.slice(API.lastIndexOf(':') + 1))];
const BASE = '/2018-06-01/runtime';
const agent = new http.Agent({ keepAlive: true, maxSockets: 1, noDelay: true });

function request(method, p, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port: PORT, path: BASE + p, method, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function errorBody(err) {
  const e = err instanceof Error ? err : new Error(typeof err === 'string' ? err : util.format(err));
  return { errorType: (err && err.name) || 'Error', errorMessage: e.message, trace: (e.stack || '').split('\n') };
}

async function postError(p, err) {
  const body = errorBody(err);
  await request('POST', p, {
    'Content-Type': 'application/json',
    'Lambda-Runtime-Function-Error-Type': body.errorType,
  }, JSON.stringify(body));
}

// ---- Loading the app ----------------------------------------------------------------------

async function importFile(file) {
  if (file.endsWith('.mjs')) return import(pathToFileURL(file).href);
  try {
    return require(file);
  } catch (e) {
    if (e && (e.code === 'ERR_REQUIRE_ESM' || e.code === 'ERR_REQUIRE_ASYNC_MODULE')) {
      return import(pathToFileURL(file).href);
    }
    throw e;
  }
}

// `main` may be a glob (`src/functions/*.js`, `dist/src/{index.js,functions/*.js}`).
function expandMain(main) {
  const braces = /\{([^{}]*)\}/.exec(main);
  if (braces) {
    return braces[1].split(',').flatMap((alt) => expandMain(main.slice(0, braces.index) + alt + main.slice(braces.index + braces[0].length)));
  }
  if (!/[*?]/.test(main)) return [path.resolve(ROOT, main)];
  const toRegex = (g) => new RegExp('^' + g.split('**/').map((p) => p.split('*').map((s) => s.replace(/[.+^${}()|[\]\\?]/g, '\\$&')).join('[^/]*')).join('(?:.*/)?') + '$');
  const re = toRegex(main.replace(/^\.\//, ''));
  const found = [];
  const walk = (dir, rel) => {
    let entries = [];
    try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
      const r = rel ? rel + '/' + e.name : e.name;
      if (e.isDirectory()) walk(path.join(dir, e.name), r);
      else if (re.test(r)) found.push(path.join(dir, e.name));
    }
  };
  walk(ROOT, '');
  return found.sort();
}

// The v3 model's functions, from the metadata Meridian passes (function.json files).
const v3 = JSON.parse(process.env.MERIDIAN_AZURE_FUNCTIONS || '[]');
const v3Handlers = new Map();

async function v3Handler(meta) {
  const key = meta.name.toLowerCase();
  if (v3Handlers.has(key)) return v3Handlers.get(key);
  let file = meta.scriptFile;
  if (!file) {
    for (const f of ['index.js', 'index.mjs', 'index.cjs']) {
      if (fs.existsSync(path.join(meta.dir, f))) { file = path.join(meta.dir, f); break; }
    }
  }
  if (!file) throw new Error(`Worker was unable to load function ${meta.name}: 'Cannot find an index.js in ${meta.dir}'`);
  let mod = await importFile(file);
  if (mod && mod.__esModule === undefined && mod.default && typeof mod !== 'function' && Object.keys(mod).length === 1) mod = mod.default;
  let fn;
  if (meta.entryPoint) {
    fn = mod && mod[meta.entryPoint];
    if (typeof fn !== 'function') {
      throw new Error(`Worker was unable to load function ${meta.name}: 'Unable to determine function entry point: ${meta.entryPoint}. If multiple functions are exported, you must indicate the entry point, either by naming it 'run' or 'index', or by naming it explicitly via the 'entryPoint' metadata property.'`);
    }
  } else if (typeof mod === 'function') {
    fn = mod;
  } else {
    const fns = Object.keys(mod || {}).filter((k) => typeof mod[k] === 'function');
    if (fns.length === 1) fn = mod[fns[0]];
    else fn = (mod && (typeof mod.run === 'function' ? mod.run : typeof mod.index === 'function' ? mod.index : undefined));
    if (typeof fn !== 'function') {
      throw new Error(`Worker was unable to load function ${meta.name}: 'Unable to determine function entry point. If multiple functions are exported, you must indicate the entry point, either by naming it 'run' or 'index', or by naming it explicitly via the 'entryPoint' metadata property.'`);
    }
  }
  v3Handlers.set(key, fn);
  return fn;
}

async function loadApp() {
  if (v3.length > 0) return;
  const pkgFile = path.join(ROOT, 'package.json');
  if (!fs.existsSync(pkgFile)) return;
  const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8'));
  const main = pkg.main || 'index.js';
  const files = expandMain(main);
  if (files.length === 0) {
    throw new Error(`Worker was unable to load entry point "${main}": File does not exist`);
  }
  for (const f of files) {
    try {
      await importFile(f);
    } catch (e) {
      throw new Error(`Worker was unable to load entry point "${path.relative(ROOT, f)}": ${e && e.message}`);
    }
  }
  for (const h of hooks.appStart) await h({ hookData: core.app.hookData, appHookData: core.app.hookData });
}

function camel(v) {
  if (Array.isArray(v)) return v.map(camel);
  if (v && typeof v === 'object') {
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k.charAt(0).toLowerCase() + k.slice(1)] = camel(x);
    return out;
  }
  return v;
}

// ---- Blob data ----------------------------------------------------------------------------

// A blob from Meridian: `{bytes: base64}` (a Buffer) or `{string}` (`dataType: string`).
function fromBlob(v) {
  if (v === null || v === undefined) return null;
  if (v.bytes !== undefined) return Buffer.from(v.bytes, 'base64');
  return v.string;
}

// An output value as Meridian writes it: bytes as they are, strings as UTF-8, other values
// as JSON, as the host serialises a binding's value.
function toBlob(v) {
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return { bytes: Buffer.from(v).toString('base64') };
  if (v instanceof ArrayBuffer) return { bytes: Buffer.from(v).toString('base64') };
  if (typeof v === 'string') return { string: v };
  return { json: JSON.stringify(v) };
}

// An RpcTypedData output of the v4 library as Meridian writes it.
function rpcToBlob(d) {
  if (!d) return undefined;
  if (d.bytes !== undefined) return { bytes: Buffer.from(d.bytes).toString('base64') };
  if (d.stream !== undefined) return { bytes: Buffer.from(d.stream).toString('base64') };
  if (d.string !== undefined) return { string: d.string };
  if (d.json !== undefined) return { json: d.json };
  if (d.int !== undefined || d.double !== undefined) return { string: String(d.int !== undefined ? d.int : d.double) };
  return undefined;
}

function blobRpc(v) {
  if (v === null || v === undefined) return null;
  if (v.bytes !== undefined) return { bytes: Buffer.from(v.bytes, 'base64') };
  return { string: v.string };
}

// ---- HTTP data ----------------------------------------------------------------------------

function headerValue(headers, name) {
  const k = Object.keys(headers || {}).find((h) => h.toLowerCase() === name);
  return k === undefined ? undefined : headers[k];
}

function isJsonType(ct) {
  return /^application\/(?:[\w.+-]*\+)?json\b/i.test(ct || '') || /^text\/json\b/i.test(ct || '');
}

function isBinaryType(ct) {
  return /^(application\/octet-stream|multipart\/|image\/|audio\/|video\/|application\/(zip|pdf|gzip))/i.test(ct || '');
}

// The v3 request object: what the host's Node worker made of an RpcHttp.
function v3Request(r) {
  const raw = r.body ? Buffer.from(r.body, 'base64') : undefined;
  const ct = headerValue(r.headers, 'content-type');
  let body;
  let rawBody;
  if (raw !== undefined && raw.length > 0) {
    if (isBinaryType(ct)) {
      body = raw;
      rawBody = raw;
    } else {
      rawBody = raw.toString('utf8');
      body = rawBody;
      if (isJsonType(ct)) { try { body = JSON.parse(rawBody); } catch { body = rawBody; } }
    }
  }
  const req = {
    method: r.method,
    url: r.url,
    originalUrl: r.url,
    headers: r.headers,
    query: r.query,
    params: r.params,
    body,
    rawBody,
    user: null,
    get(field) { return headerValue(this.headers, String(field).toLowerCase()); },
  };
  return req;
}

// The v3 response object context.res starts as: express-like helpers that end the invocation.
function v3Response(done) {
  const res = {
    headers: {},
    cookies: [],
    status(code) { this.statusCode = code; return this; },
    setHeader(k, v) { this.headers[k] = v; return this; },
    header(k, v) { return this.setHeader(k, v); },
    set(k, v) { return this.setHeader(k, v); },
    getHeader(k) { return headerValue(this.headers, String(k).toLowerCase()); },
    get(k) { return this.getHeader(k); },
    removeHeader(k) { for (const h of Object.keys(this.headers)) if (h.toLowerCase() === String(k).toLowerCase()) delete this.headers[h]; return this; },
    type(t) { return this.setHeader('Content-Type', t); },
    send(body) { this.body = body; done(); return this; },
    end(body) { if (body !== undefined) this.body = body; done(); return this; },
    json(body) { this.type('application/json'); this.body = body; done(); return this; },
    raw(body) { this.isRaw = true; this.body = body; done(); return this; },
    sendStatus(code) { this.statusCode = code; done(); return this; },
  };
  Object.defineProperty(res, '__meridianDefault', { value: true, enumerable: false, writable: true });
  return res;
}

// An HTTP response in the v3 model's shapes, as the host serialises it.
function v3ToHttp(res) {
  if (res === undefined || res === null) return { status: 200, headers: {}, cookies: [], body: '' };
  if (typeof res !== 'object' || Buffer.isBuffer(res) || (!('body' in res) && !('status' in res) && !('statusCode' in res) && !('headers' in res) && !res.__meridianDefault)) {
    // A bare value is the body.
    res = { body: res };
  }
  const status = Number(res.statusCode !== undefined ? res.statusCode : res.status !== undefined && typeof res.status !== 'function' ? res.status : 200) || 200;
  const headers = {};
  for (const [k, v] of Object.entries(res.headers || {})) headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
  let body = res.body;
  let bytes;
  const ct = headerValue(headers, 'content-type');
  if (body === undefined || body === null) {
    bytes = Buffer.alloc(0);
  } else if (Buffer.isBuffer(body) || body instanceof Uint8Array) {
    bytes = Buffer.from(body);
    if (!ct) headers['Content-Type'] = 'application/octet-stream';
  } else if (typeof body === 'string') {
    bytes = Buffer.from(body, 'utf8');
    if (!ct) headers['Content-Type'] = 'text/plain; charset=utf-8';
  } else {
    bytes = Buffer.from(JSON.stringify(body), 'utf8');
    if (!ct) headers['Content-Type'] = 'application/json; charset=utf-8';
  }
  const cookies = (res.cookies || []).map(cookieString).filter(Boolean);
  return { status, headers, cookies, body: bytes.toString('base64') };
}

function cookieString(c) {
  if (!c || !c.name) return undefined;
  let s = `${c.name}=${c.value === undefined ? '' : c.value}`;
  if (c.domain) s += `; domain=${c.domain}`;
  if (c.path) s += `; path=${c.path}`;
  if (c.expires) s += `; expires=${(c.expires instanceof Date ? c.expires : new Date(c.expires)).toUTCString()}`;
  if (c.maxAge !== undefined) s += `; max-age=${c.maxAge}`;
  if (c.secure) s += '; secure';
  if (c.httpOnly) s += '; httponly';
  if (c.sameSite) s += `; samesite=${String(c.sameSite).toLowerCase()}`;
  return s;
}

async function invokeV3(meta, ev) {
  const fn = await v3Handler(meta);
  const invocationId = ev.invocationId;
  let finish;
  const finished = new Promise((resolve, reject) => { finish = { resolve, reject }; });
  let doneCalled = false;
  const done = (err, result) => {
    if (doneCalled) return;
    doneCalled = true;
    if (err) finish.reject(err); else finish.resolve(result);
  };
  const log = (...a) => console.log(...a);
  log.error = (...a) => console.error(...a);
  log.warn = (...a) => console.warn(...a);
  log.info = (...a) => console.info(...a);
  log.verbose = (...a) => console.debug(...a);
  const trigger = meta.trigger;
  const bindings = {};
  const bindingData = { invocationId, sys: { methodName: meta.name, utcNow: new Date().toISOString(), randGuid: require('crypto').randomUUID() } };
  const args = [];
  let req;
  if (ev.trigger === 'http') {
    req = v3Request(ev.request);
    bindings[trigger] = req;
    Object.assign(bindingData, ev.request.query, ev.request.params, { query: ev.request.query, headers: ev.request.headers, params: ev.request.params });
    args.push(req);
  } else if (ev.trigger === 'timer') {
    // The v3 worker hands TimerInfo over in camelCase (isPastDue, scheduleStatus).
    const timer = camel(ev.timer);
    bindings[trigger] = timer;
    args.push(timer);
  } else if (ev.trigger === 'blob') {
    const blob = fromBlob(ev.blob);
    bindings[trigger] = blob;
    Object.assign(bindingData, camel(ev.triggerMetadata || {}));
    args.push(blob);
  } else {
    bindings[trigger] = ev.input;
    args.push(ev.input);
  }
  // The other input bindings follow the trigger as arguments, in their order.
  for (const b of meta.bindings) {
    if (b.direction !== 'in' || b.name === trigger) continue;
    if (ev.inputs && b.name in ev.inputs) bindings[b.name] = fromBlob(ev.inputs[b.name]);
    args.push(bindings[b.name]);
  }
  const httpOut = meta.bindings.find((b) => b.type === 'http' && b.direction === 'out');
  const context = {
    invocationId,
    executionContext: { invocationId, functionName: meta.name, functionDirectory: meta.dir, retryContext: ev.retryContext || null },
    bindings,
    bindingData,
    bindingDefinitions: meta.bindings.map((b) => ({ name: b.name, type: b.type, direction: b.direction })),
    traceContext: { traceparent: undefined, tracestate: undefined, attributes: {} },
    log,
    done,
    req,
  };
  if (ev.trigger === 'http') context.res = v3Response(() => done());
  let result;
  const ret = fn(context, ...args);
  if (ret && typeof ret.then === 'function') {
    result = await Promise.race([ret, finished]);
  } else {
    result = await finished;
  }
  // A returned object fills the output bindings by name, or `$return`.
  const hasReturn = meta.bindings.some((b) => b.name === '$return' && b.direction === 'out');
  if (result && typeof result === 'object' && !hasReturn && !Buffer.isBuffer(result)) {
    for (const [k, v] of Object.entries(result)) {
      if (meta.bindings.some((b) => b.name === k && b.direction === 'out' && b.type !== 'http')) bindings[k] = v;
    }
  }
  const outputs = {};
  for (const b of meta.bindings) {
    if (b.direction !== 'out' || b.type !== 'blob') continue;
    const v = b.name === '$return' ? result : bindings[b.name];
    if (v !== undefined && v !== null) outputs[b.name] = toBlob(v);
  }
  if (ev.trigger !== 'http') return { outputs };
  let res;
  if (hasReturn && httpOut && httpOut.name === '$return') {
    res = result;
  } else {
    if (result && typeof result === 'object' && !hasReturn) {
      for (const [k, v] of Object.entries(result)) {
        if (meta.bindings.some((b) => b.name === k && b.direction === 'out')) bindings[k] = v;
      }
    }
    const named = httpOut ? bindings[httpOut.name] : undefined;
    res = named !== undefined && named !== req ? named : context.res;
  }
  return Object.assign(v3ToHttp(res), { outputs });
}

// ---- v4: the library's invocation model ---------------------------------------------------

async function invokeV4(entry, ev) {
  const meta = entry.metadata;
  const triggerName = Object.keys(meta.bindings).find((k) => /trigger$/i.test(meta.bindings[k].type));
  const inputData = [];
  if (ev.trigger === 'http') {
    const r = ev.request;
    const body = r.body ? Buffer.from(r.body, 'base64') : Buffer.alloc(0);
    inputData.push({
      name: triggerName,
      data: {
        http: {
          method: r.method,
          url: r.url,
          headers: r.headers,
          query: r.query,
          params: r.params,
          body: { bytes: body },
        },
      },
    });
  } else if (ev.trigger === 'timer') {
    inputData.push({ name: triggerName, data: { json: JSON.stringify(ev.timer) } });
  } else if (ev.trigger === 'blob') {
    inputData.push({ name: triggerName, data: blobRpc(ev.blob) });
  } else if (ev.input !== undefined) {
    inputData.push({ name: triggerName, data: { json: JSON.stringify(ev.input) } });
  }
  for (const [name, v] of Object.entries(ev.inputs || {})) inputData.push({ name, data: blobRpc(v) });
  // The host's trigger metadata: strings as strings, the rest as JSON.
  const triggerMetadata = {};
  for (const [k, v] of Object.entries(ev.triggerMetadata || {})) {
    triggerMetadata[k] = typeof v === 'string' ? { string: v } : { json: JSON.stringify(v) };
  }
  const coreCtx = {
    invocationId: ev.invocationId,
    request: { invocationId: ev.invocationId, functionId: meta.name, inputData, triggerMetadata, retryContext: ev.retryContext },
    metadata: meta,
    state: undefined,
    log: (level, category, msg) => core.log(level, category, msg),
  };
  const model = programmingModel.getInvocationModel(coreCtx);
  coreCtx.state = 'preInvocationHooks';
  const { context, inputs } = await model.getArguments();
  let handler = entry.callback;
  for (const h of hooks.preInvocation) {
    const hc = { hookData: {}, appHookData: core.app.hookData, invocationContext: context, inputs, functionCallback: handler };
    await h(hc);
    handler = hc.functionCallback;
  }
  coreCtx.state = 'invocation';
  let result;
  let error;
  try {
    result = await model.invokeFunction(context, inputs, handler);
  } catch (e) {
    error = e;
  }
  coreCtx.state = 'postInvocationHooks';
  for (const h of hooks.postInvocation) {
    const hc = { hookData: {}, appHookData: core.app.hookData, invocationContext: context, inputs, result, error };
    await h(hc);
    result = hc.result;
    error = hc.error;
  }
  if (error) throw error;
  const response = await model.getResponse(context, result);
  const outputs = {};
  for (const [name, b] of Object.entries(meta.bindings)) {
    if (b.direction !== 'out' || String(b.type).toLowerCase() !== 'blob') continue;
    const d = name === '$return' ? response.returnValue : ((response.outputData || []).find((o) => o.name === name) || {}).data;
    const v = rpcToBlob(d);
    if (v !== undefined) outputs[name] = v;
  }
  if (ev.trigger !== 'http') return { outputs };
  const httpName = Object.keys(meta.bindings).find((k) => meta.bindings[k].direction === 'out' && String(meta.bindings[k].type).toLowerCase() === 'http');
  let rpc;
  if (httpName === '$return') rpc = response.returnValue;
  else rpc = (response.outputData || []).find((o) => o.name === httpName);
  rpc = rpc && rpc.data ? rpc.data : rpc;
  const h = rpc && rpc.http;
  if (!h) return { status: 200, headers: {}, cookies: [], body: '', outputs };
  const headers = {};
  for (const [k, v] of Object.entries(h.headers || {})) headers[k] = String(v);
  let bytes = Buffer.alloc(0);
  if (h.body) {
    if (h.body.bytes) bytes = Buffer.from(h.body.bytes);
    else if (h.body.string !== undefined) bytes = Buffer.from(h.body.string, 'utf8');
    else if (h.body.json !== undefined) bytes = Buffer.from(h.body.json, 'utf8');
  }
  const cookies = (h.cookies || []).map((c) => cookieString({
    name: c.name, value: c.value,
    domain: c.domain && c.domain.value, path: c.path && c.path.value,
    expires: c.expires && c.expires.value ? new Date(Number(c.expires.value.seconds) * 1000) : undefined,
    maxAge: c.maxAge && c.maxAge.value, secure: c.secure && c.secure.value, httpOnly: c.httpOnly && c.httpOnly.value,
    sameSite: c.sameSite === 1 ? 'Lax' : c.sameSite === 2 ? 'Strict' : c.sameSite === 3 ? 'None' : undefined,
  })).filter(Boolean);
  return { status: Number(h.statusCode) || 200, headers, cookies, body: bytes.toString('base64'), outputs };
}

// ---- Indexing -----------------------------------------------------------------------------

function indexV4() {
  const fns = [];
  for (const { metadata } of registered.values()) {
    const bindings = Object.entries(metadata.bindings).map(([name, b]) => ({
      name, type: b.type, direction: b.direction,
      authLevel: b.authLevel, methods: b.methods, route: b.route,
      schedule: b.schedule, runOnStartup: b.runOnStartup, useMonitor: b.useMonitor,
      path: b.path, dataType: b.dataType, connection: b.connection,
    }));
    fns.push({ name: metadata.name, bindings });
  }
  return fns;
}

// ---- Main loop ----------------------------------------------------------------------------

async function main() {
  if (INDEX_ONLY) {
    try {
      await loadApp();
      process.stdout.write(JSON.stringify({ functions: indexV4() }) + '\n');
      process.exit(0);
    } catch (e) {
      process.stdout.write(JSON.stringify({ error: String((e && e.message) || e) }) + '\n');
      process.exit(1);
    }
  }
  try {
    await loadApp();
  } catch (e) {
    await postError('/init/error', e);
    process.exit(1);
  }
  for (;;) {
    const next = await request('GET', '/invocation/next');
    const id = next.headers['lambda-runtime-aws-request-id'];
    let ev;
    try {
      ev = JSON.parse(next.body.toString('utf8'));
    } catch (e) {
      await postError(`/invocation/${id}/error`, e);
      continue;
    }
    currentInvocation = ev.invocationId;
    // A function that never calls done() keeps waiting, as the host's worker does, until
    // Meridian's functionTimeout ends it; the timer keeps Node from exiting meanwhile.
    const keepAlive = setInterval(() => {}, 1 << 30);
    try {
      let reply;
      const key = String(ev.function).toLowerCase();
      const meta = v3.find((f) => f.name.toLowerCase() === key);
      if (meta) {
        reply = await invokeV3(meta, ev);
      } else if (registered.has(key) && programmingModel) {
        reply = await invokeV4(registered.get(key), ev);
      } else {
        throw new Error(`Function '${ev.function}' does not exist in this app`);
      }
      // The Functions host has no 6 MB cap on a reply (blob outputs, HTTP bodies): the
      // streaming response mode lifts Lambda's to 200 MB.
      await request('POST', `/invocation/${id}/response`, {
        'Content-Type': 'application/json',
        'Lambda-Runtime-Function-Response-Mode': 'streaming',
      }, JSON.stringify(reply));
    } catch (e) {
      console.error(`Exception: ${(e && e.stack) || e}`);
      await postError(`/invocation/${id}/error`, e);
    } finally {
      clearInterval(keepAlive);
    }
    currentInvocation = undefined;
  }
}

void currentInvocation;
main().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
