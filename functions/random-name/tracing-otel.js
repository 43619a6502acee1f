'use strict';
/**
 * tracing_sdk: otel and otel-layer, through the OpenTelemetry API only. With `otel` the
 * bundle also ships tracing-otel-sdk.js, which sets up the SDK; with `otel-layer` AWS's
 * layer (AWS_LAMBDA_EXEC_WRAPPER=/opt/otel-instrument) has set it up and wraps the handler
 * itself, and @opentelemetry/api is resolved from the layer.
 */
const api = require('@opentelemetry/api');

/**
 * tracing-otel-sdk.js when the bundle ships it (`otel`), else null (`otel-layer`). A `require`
 * in a `try`, not a file check: esbuild inlines the module when it is there (no file is left
 * to check) and leaves the `require` of an absent one to fail here at run time.
 */
function loadSdk() {
  try {
    return require('./tracing-otel-sdk');
  } catch (err) {
    if (err.code === 'MODULE_NOT_FOUND' && String(err.message).includes("'./tracing-otel-sdk'")) {
      return null;
    }
    throw err;
  }
}

const bundledSdk = loadSdk();

const tracer = api.trace.getTracer('random-name');

/**
 * X-Ray indexes only the attributes a span lists in `aws.xray.annotations`; every other
 * attribute becomes metadata, which filter expressions cannot search.
 */
function annotate(name, annotations) {
  const span = tracer.startSpan(name, {
    attributes: { ...annotations, 'aws.xray.annotations': Object.keys(annotations) },
  });
  span.end();
}

/**
 * Runs each invocation under the trace Lambda started (_X_AMZN_TRACE_ID), so the spans are
 * children of Lambda's function segment as with the X-Ray SDK, and flushes before returning.
 */
function wrapHandler(handler) {
  if (!bundledSdk) {
    return handler;
  }
  return async function traced(event, context) {
    const parent = bundledSdk.invocationContext(context);
    try {
      return await api.context.with(parent, () => handler(event, context));
    } finally {
      await bundledSdk.flush();
    }
  };
}

module.exports = {
  sdk: bundledSdk ? 'otel' : 'otel-layer',
  // The AWS SDK instrumentation traces every client; nothing to do per client.
  captureClient: (client) => client,
  annotate,
  wrapHandler,
};
