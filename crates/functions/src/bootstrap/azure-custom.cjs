// Meridian's bridge to an Azure Functions custom handler: it starts the app's handler (any
// language) with FUNCTIONS_CUSTOMHANDLER_PORT, as the Functions host does, waits for it to
// listen, and turns each invocation Meridian hands it through its Runtime API
// ($AWS_LAMBDA_RUNTIME_API) into the custom handler's request: the JSON envelope
// (`POST /<function>` with Data and Metadata) or, with enableProxyingHttpRequest, the HTTP
// request itself at its original path.
'use strict';
const http = require('http');
const net = require('net');
const path = require('path');
const { spawn } = require('child_process');
const crypto = require('crypto');

const ROOT = process.env.AzureWebJobsScriptRoot || process.cwd();
const CFG = JSON.parse(process.env.MERIDIAN_AZURE_CUSTOM_HANDLER || '{}');
const FUNCTIONS = JSON.parse(process.env.MERIDIAN_AZURE_FUNCTIONS || '[]');
const API = process.env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001';
const [HOST, PORT] = [API.slice(0, API.lastIndexOf(':')), Number(API.slice(API.lastIndexOf(':') + 1))];
const BASE = '/2018-06-01/runtime';
const START_LIMIT_MS = 60000;
const apiAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const handlerAgent = new http.Agent({ keepAlive: true });

function call(opts, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(opts, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const api = (method, p, headers, body) => call({ host: HOST, port: PORT, path: BASE + p, method, headers, agent: apiAgent }, body);

async function postError(p, err) {
  const body = { errorType: (err && err.name) || 'Error', errorMessage: String((err && err.message) || err) };
  await api('POST', p, { 'Content-Type': 'application/json', 'Lambda-Runtime-Function-Error-Type': body.errorType }, JSON.stringify(body));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

function waitListening(port, child) {
  const deadline = Date.now() + START_LIMIT_MS;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null) return reject(new Error(`the custom handler exited with code ${child.exitCode} before it listened`));
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => { s.destroy(); resolve(); });
      s.on('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`the custom handler did not listen on FUNCTIONS_CUSTOMHANDLER_PORT=${port} within 60 s`));
        else setTimeout(attempt, 20);
      });
    };
    attempt();
  });
}

function firstValues(headers) {
  const out = {};
  for (const [k, v] of Object.entries(headers || {})) out[k] = String(v).split(', ');
  return out;
}

async function main() {
  const port = await freePort();
  const cwd = path.resolve(ROOT, CFG.workingDirectory || '.');
  const exe = path.resolve(cwd, CFG.executable);
  const child = spawn(exe, CFG.arguments || [], {
    cwd,
    env: { ...process.env, FUNCTIONS_CUSTOMHANDLER_PORT: String(port) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.on('error', () => {});
  child.on('exit', (code, signal) => {
    process.stderr.write(`custom handler exited (${signal || code})\n`);
    process.exit(1);
  });
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { child.kill('SIGTERM'); process.exit(0); });
  try {
    await waitListening(port, child);
  } catch (e) {
    await postError('/init/error', e);
    child.kill('SIGKILL');
    process.exit(1);
  }
  for (;;) {
    const next = await api('GET', '/invocation/next');
    const id = next.headers['lambda-runtime-aws-request-id'];
    try {
      const ev = JSON.parse(next.body.toString('utf8'));
      const reply = await invoke(port, ev);
      await api('POST', `/invocation/${id}/response`, { 'Content-Type': 'application/json' }, JSON.stringify(reply));
    } catch (e) {
      process.stderr.write(`Exception: ${(e && e.stack) || e}\n`);
      await postError(`/invocation/${id}/error`, e);
    }
  }
}

async function invoke(port, ev) {
  const meta = FUNCTIONS.find((f) => f.name.toLowerCase() === String(ev.function).toLowerCase());
  const bindings = meta ? meta.bindings : [];
  const trigger = meta ? meta.trigger : 'req';
  if (ev.trigger === 'http' && CFG.proxyHttp) {
    const r = ev.request;
    const u = new URL(r.url);
    const body = r.body ? Buffer.from(r.body, 'base64') : undefined;
    const sent = { ...r.headers };
    delete sent['transfer-encoding'];
    sent['content-length'] = String(body ? body.length : 0);
    const res = await call({ host: '127.0.0.1', port, path: u.pathname + u.search, method: r.method, headers: sent, agent: handlerAgent }, body);
    const headers = {};
    const cookies = [];
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      const k = res.rawHeaders[i];
      const lk = k.toLowerCase();
      if (lk === 'set-cookie') cookies.push(res.rawHeaders[i + 1]);
      else if (lk !== 'content-length' && lk !== 'transfer-encoding' && lk !== 'connection' && lk !== 'keep-alive') headers[k] = res.rawHeaders[i + 1];
    }
    return { status: res.status, headers, cookies, body: res.body.toString('base64') };
  }
  const data = {};
  const metadata = { sys: { MethodName: ev.function, UtcNow: new Date().toISOString(), RandGuid: crypto.randomUUID() } };
  if (ev.trigger === 'http') {
    const r = ev.request;
    data[trigger] = {
      Url: r.url,
      Method: r.method,
      Query: r.query,
      Headers: firstValues(r.headers),
      Params: r.params,
      Body: r.body ? Buffer.from(r.body, 'base64').toString('utf8') : '',
      Identities: [],
    };
    Object.assign(metadata, r.query, r.params, { Query: r.query, Headers: firstValues(r.headers) });
  } else if (ev.trigger === 'timer') {
    data[trigger] = ev.timer;
  } else {
    data[trigger] = ev.input;
  }
  const envelope = Buffer.from(JSON.stringify({ Data: data, Metadata: metadata }), 'utf8');
  const res = await call({
    host: '127.0.0.1', port, path: `/${ev.function}`, method: 'POST', agent: handlerAgent,
    headers: { 'Content-Type': 'application/json', 'Content-Length': String(envelope.length) },
  }, envelope);
  if (res.status < 200 || res.status > 299) {
    throw new Error(`the custom handler answered ${res.status} for function '${ev.function}': ${res.body.toString('utf8').slice(0, 512)}`);
  }
  let out = {};
  try { out = JSON.parse(res.body.toString('utf8') || '{}'); } catch (e) {
    throw new Error(`the custom handler's response for '${ev.function}' is not JSON: ${e.message}`);
  }
  for (const line of out.Logs || []) process.stdout.write(String(line) + '\n');
  if (ev.trigger !== 'http') return {};
  const httpOut = bindings.find((b) => b.type === 'http' && b.direction === 'out');
  let h = httpOut && httpOut.name === '$return' ? out.ReturnValue : (out.Outputs || {})[httpOut ? httpOut.name : 'res'];
  if (typeof h === 'string') { try { h = JSON.parse(h); } catch { h = { body: h }; } }
  if (!h) return { status: 200, headers: {}, cookies: [], body: '' };
  const status = Number(h.statusCode !== undefined ? h.statusCode : h.status !== undefined ? h.status : 200) || 200;
  const headers = {};
  for (const [k, v] of Object.entries(h.headers || {})) headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
  let body = h.body;
  let bytes;
  if (body === undefined || body === null) bytes = Buffer.alloc(0);
  else if (typeof body === 'string') bytes = Buffer.from(body, 'utf8');
  else { bytes = Buffer.from(JSON.stringify(body), 'utf8'); if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/json; charset=utf-8'; }
  return { status, headers, cookies: [], body: bytes.toString('base64') };
}

main().catch((e) => { process.stderr.write(String((e && e.stack) || e) + '\n'); process.exit(1); });
