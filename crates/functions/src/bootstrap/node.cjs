// Meridian's Node.js bootstrap: a small Lambda runtime client speaking the Runtime API
// (2018-06-01) at $AWS_LAMBDA_RUNTIME_API. Loads $_HANDLER from $LAMBDA_TASK_ROOT the way
// the AWS Node runtime does (CommonJS or ES module, async or callback handlers, response
// streaming through awslambda.streamifyResponse).
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const util = require('util');
const { pathToFileURL } = require('url');

const API = process.env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001';
const [HOST, PORT] = [API.slice(0, API.lastIndexOf(':')), Number(API.slice(API.lastIndexOf(':') + 1))];
const BASE = '/2018-06-01/runtime';
const agent = new http.Agent({ keepAlive: true, maxSockets: 1, noDelay: true });
let currentRequestId = undefined;

// console.* write AWS's log line format: time, request id, level, message.
const write = (level) => (...args) => {
  const ts = new Date().toISOString();
  process.stdout.write(`${ts}\t${currentRequestId || 'undefined'}\t${level}\t${util.format(...args)}\n`);
};
console.log = write('INFO');
console.info = write('INFO');
console.warn = write('WARN');
console.error = write('ERROR');
console.debug = write('DEBUG');
console.trace = write('TRACE');

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
  const errorType = (err && err.name) || 'Error';
  const trace = (e.stack || '').split('\n');
  return { errorType, errorMessage: e.message, trace };
}

async function postError(p, err, typeOverride) {
  const body = errorBody(err);
  if (typeOverride) body.errorType = typeOverride;
  console.error('Invoke Error', JSON.stringify(body));
  await request('POST', p, {
    'Content-Type': 'application/json',
    'Lambda-Runtime-Function-Error-Type': body.errorType,
  }, JSON.stringify(body));
}

class RuntimeError extends Error {
  constructor(name, message) { super(message); this.name = name; }
}

async function loadHandler() {
  const handlerString = process.env._HANDLER || '';
  const taskRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const m = /^([^.]*)\.(.*)$/.exec(path.basename(handlerString));
  if (!m) throw new RuntimeError('Runtime.MalformedHandlerName', `Bad handler ${handlerString}`);
  const moduleRel = path.join(path.dirname(handlerString), m[1]);
  const base = path.resolve(taskRoot, moduleRel);
  let mod;
  let found = null;
  for (const ext of ['.js', '.mjs', '.cjs']) {
    if (fs.existsSync(base + ext)) { found = base + ext; break; }
  }
  if (!found) {
    throw new RuntimeError('Runtime.ImportModuleError',
      `Error: Cannot find module '${m[1]}'\nRequire stack:\n- ${__filename}`);
  }
  try {
    if (found.endsWith('.mjs')) {
      mod = await import(pathToFileURL(found).href);
    } else {
      try {
        mod = require(found);
      } catch (e) {
        if (e && (e.code === 'ERR_REQUIRE_ESM' || e.code === 'ERR_REQUIRE_ASYNC_MODULE')) {
          mod = await import(pathToFileURL(found).href);
        } else {
          throw e;
        }
      }
    }
  } catch (e) {
    if (e instanceof SyntaxError) throw new RuntimeError('Runtime.UserCodeSyntaxError', `${e.name}: ${e.message}`);
    if (e && e.code === 'MODULE_NOT_FOUND') throw new RuntimeError('Runtime.ImportModuleError', `Error: ${e.message}`);
    throw e;
  }
  let fn = mod;
  for (const part of m[2].split('.')) {
    fn = fn == null ? undefined : fn[part];
    if (fn === undefined && mod && mod.default && mod.default[part] !== undefined && fn === undefined) fn = mod.default[part];
  }
  if (typeof fn !== 'function') {
    throw new RuntimeError('Runtime.HandlerNotFound', `${path.basename(handlerString)} is undefined or not exported`);
  }
  return fn;
}

const STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
global.awslambda = {
  streamifyResponse(handler) { handler[STREAMING] = 'response'; return handler; },
  HttpResponseStream: {
    from(stream, prelude) {
      stream.setContentType('application/vnd.awslambda.http-integration-response');
      stream.write(JSON.stringify(prelude));
      stream.write(Buffer.alloc(8));
      return stream;
    },
  },
};

function makeContext(h) {
  const deadline = Number(h['lambda-runtime-deadline-ms']);
  const parse = (s) => { try { return s ? JSON.parse(s) : undefined; } catch { return undefined; } };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: h['lambda-runtime-invoked-function-arn'],
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: h['lambda-runtime-aws-request-id'],
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: parse(h['lambda-runtime-client-context']),
    identity: parse(h['lambda-runtime-cognito-identity']),
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

async function invokeStreaming(fn, event, ctx, id) {
  let contentType = 'application/octet-stream';
  let req = null;
  const pending = [];
  const open = () => {
    if (req) return req;
    req = http.request({
      host: HOST, port: PORT, path: `${BASE}/invocation/${id}/response`, method: 'POST', agent,
      headers: {
        'Content-Type': contentType,
        'Lambda-Runtime-Function-Response-Mode': 'streaming',
        'Transfer-Encoding': 'chunked',
        'Trailer': 'Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body',
      },
    });
    req.done = new Promise((resolve, reject) => {
      req.on('response', (res) => { res.resume(); res.on('end', resolve); });
      req.on('error', reject);
    });
    return req;
  };
  const stream = {
    setContentType(t) { contentType = t; },
    write(chunk, enc, cb) { return open().write(chunk, enc, cb); },
    end(chunk, cb) { const r = open(); if (chunk !== undefined) r.write(chunk); r.end(cb); },
    on(ev, f) { open().on(ev, f); return stream; },
    once(ev, f) { open().once(ev, f); return stream; },
    emit(...a) { return open().emit(...a); },
    get writable() { return true; },
  };
  try {
    await fn(event, stream, ctx);
    const r = open();
    if (!r.writableEnded) r.end();
    await r.done;
  } catch (err) {
    const r = open();
    const body = errorBody(err);
    console.error('Invoke Error', JSON.stringify(body));
    r.addTrailers({
      'Lambda-Runtime-Function-Error-Type': body.errorType,
      'Lambda-Runtime-Function-Error-Body': Buffer.from(JSON.stringify(body)).toString('base64'),
    });
    if (!r.writableEnded) r.end();
    await r.done.catch(() => {});
  }
  void pending;
}

function runHandler(fn, event, ctx) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const callback = (err, result) => {
      if (settled) return;
      settled = true;
      if (err !== undefined && err !== null) reject(err); else resolve(result);
    };
    ctx.done = callback;
    ctx.succeed = (r) => callback(null, r);
    ctx.fail = (e) => callback(e || new Error('handled'));
    try {
      const r = fn(event, ctx, callback);
      if (r && typeof r.then === 'function') {
        r.then((v) => callback(null, v), (e) => callback(e === undefined || e === null ? new Error(String(e)) : e));
      } else if (fn.length < 3) {
        callback(null, r);
      }
    } catch (e) {
      callback(e);
    }
  });
}

async function main() {
  let fn;
  try {
    fn = await loadHandler();
  } catch (err) {
    await postError('/init/error', err, err && err.name).catch(() => {});
    process.exit(129);
  }
  for (;;) {
    const next = await request('GET', '/invocation/next');
    const h = next.headers;
    const id = h['lambda-runtime-aws-request-id'];
    currentRequestId = id;
    if (h['lambda-runtime-trace-id']) process.env._X_AMZN_TRACE_ID = h['lambda-runtime-trace-id'];
    else delete process.env._X_AMZN_TRACE_ID;
    const ctx = makeContext(h);
    let event;
    try {
      event = JSON.parse(next.body.toString('utf8') || 'null');
    } catch (e) {
      await postError(`/invocation/${id}/error`, e, 'Runtime.UnmarshalError');
      continue;
    }
    if (fn[STREAMING]) {
      await invokeStreaming(fn, event, ctx, id);
      continue;
    }
    try {
      const result = await runHandler(fn, event, ctx);
      let body;
      try {
        body = JSON.stringify(result === undefined ? null : result);
      } catch (e) {
        await postError(`/invocation/${id}/error`, e, 'Runtime.MarshalError');
        continue;
      }
      await request('POST', `/invocation/${id}/response`, { 'Content-Type': 'application/json' }, body);
    } catch (err) {
      await postError(`/invocation/${id}/error`, err);
    }
  }
}

process.on('unhandledRejection', (reason) => {
  console.error('Unhandled Promise Rejection', reason);
});

main().catch((e) => {
  process.stderr.write(`bootstrap: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
