'use strict';
// scorekeep-deploy `invoke --local`: runs one Lambda handler the way the Node.js runtime would.
//
//   node runner.js TASK_ROOT HANDLER EVENT_FILE RESULT_FILE TIMEOUT_MS
//
// HANDLER is `path/to/file.export` relative to TASK_ROOT (CommonJS or ES module). The outcome
// goes to RESULT_FILE, never to stdout, so the handler's own console output stays separate:
//   {"ok": true, "result": ..., "duration_ms": n}
//   {"ok": false, "error": {"type": ..., "message": ..., "stack": [...]}, "duration_ms": n}
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { pathToFileURL } = require('node:url');

const [taskRoot, handlerSpec, eventFile, resultFile, timeoutArg] = process.argv.slice(2);
let started = Date.now();
let finished = false;

function errorInfo(err, type) {
  if (err instanceof Error) {
    // The runner's own frames say nothing about the handler; neither does the stack of an
    // error the runner raised itself (handler not found).
    const stack = typeof err.stack === 'string' && !err.fromRunner
      ? err.stack.split('\n').filter((l) => !l.includes(__filename))
      : [];
    return { type: type || err.name || 'Error', message: String(err.message), stack };
  }
  let message;
  try {
    message = typeof err === 'string' ? err : JSON.stringify(err);
  } catch (_) {
    message = String(err);
  }
  return { type: type || (err === null ? 'null' : typeof err), message: String(message), stack: [] };
}

function finish(payload) {
  if (finished) return;
  finished = true;
  payload.duration_ms = Date.now() - started;
  let text;
  try {
    text = JSON.stringify(payload);
  } catch (err) {
    text = JSON.stringify({
      ok: false,
      error: errorInfo(err, 'Runtime.MarshalError'),
      duration_ms: payload.duration_ms,
    });
  }
  fs.writeFileSync(resultFile, text);
  process.exitCode = payload.ok ? 0 : 1;
  // Lambda freezes the process once the handler returns. Exit as soon as nothing else is
  // pending (in-flight X-Ray UDP sends complete first), and at most half a second later even
  // if sockets or timers are still open.
  setTimeout(() => process.exit(), 500).unref();
}

async function loadHandler() {
  const dot = handlerSpec.lastIndexOf('.');
  if (dot <= 0) {
    throw Object.assign(new Error(`handler "${handlerSpec}" is not of the form file.function`), {
      lambdaType: 'Runtime.MalformedHandlerName',
      fromRunner: true,
    });
  }
  const base = path.resolve(taskRoot, handlerSpec.slice(0, dot));
  const exportName = handlerSpec.slice(dot + 1);
  let mod;
  try {
    if (fs.existsSync(base + '.mjs')) {
      mod = await import(pathToFileURL(base + '.mjs').href);
    } else {
      try {
        mod = require(base);
      } catch (err) {
        if (err && err.code === 'ERR_REQUIRE_ESM') {
          mod = await import(pathToFileURL(require.resolve(base)).href);
        } else {
          throw err;
        }
      }
    }
  } catch (err) {
    err.lambdaType = 'Runtime.ImportModuleError';
    throw err;
  }
  const handler = mod[exportName] !== undefined ? mod[exportName] : (mod.default || {})[exportName];
  if (typeof handler !== 'function') {
    throw Object.assign(new Error(`${handlerSpec} is undefined or not exported`), {
      lambdaType: 'Runtime.HandlerNotFound',
      fromRunner: true,
    });
  }
  return handler;
}

async function main() {
  const event = JSON.parse(fs.readFileSync(eventFile, 'utf8'));
  const handler = await loadHandler();
  const name = process.env.AWS_LAMBDA_FUNCTION_NAME || 'local';
  const region = process.env.AWS_REGION || 'us-east-1';
  const deadline = Date.now() + Number(timeoutArg || 3000);
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: name,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION || '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:000000000000:function:${name}`,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE || '128',
    awsRequestId: crypto.randomUUID(),
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  // Async handlers return a promise; callback-style ones (three parameters) call back.
  let settle;
  const calledBack = new Promise((resolve, reject) => {
    settle = { resolve, reject };
  });
  const callback = (err, value) => (err ? settle.reject(err) : settle.resolve(value));
  started = Date.now();
  const returned = handler(event, context, callback);
  if (returned && typeof returned.then === 'function') {
    return returned;
  }
  return handler.length >= 3 ? calledBack : returned;
}

main().then(
  (result) => finish({ ok: true, result: result === undefined ? null : result }),
  (err) => finish({ ok: false, error: errorInfo(err, err && err.lambdaType) }),
);
process.on('uncaughtException', (err) => finish({ ok: false, error: errorInfo(err) }));
process.on('unhandledRejection', (err) => finish({ ok: false, error: errorInfo(err) }));
