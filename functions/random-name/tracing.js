'use strict';
/**
 * The function's only contact with a tracing SDK. The bundler ships the implementation for
 * the function's `tracing_sdk` (scorekeep-deploy.yaml) and leaves the others out:
 *   xray        tracing-xray.js                        (aws-xray-sdk-core)
 *   otel        tracing-otel.js + tracing-otel-sdk.js  (OpenTelemetry SDK in the bundle)
 *   otel-layer  tracing-otel.js                        (SDK from AWS's OpenTelemetry layer)
 * In the source tree all are present and X-Ray, the default, is used (unit tests).
 *
 * Interface: captureClient(client) → the AWS SDK v3 client, traced;
 * annotate(name, {key: value}) → one span/subsegment `name` whose entries are indexed
 * X-Ray annotations; wrapHandler(handler) → the Lambda handler, run in the invocation's trace.
 * This module must be required before the AWS SDK so instrumentations can hook its loading.
 */
// Whichever implementation the bundle ships: X-Ray's when present, else OpenTelemetry's.
// Each `require` sits in a `try` so that a single-file bundler (esbuild) bundles the one that
// is shipped and leaves the other, absent one unresolved instead of failing the build.
function notShipped(err, name) {
  return err.code === 'MODULE_NOT_FOUND' && String(err.message).includes(`'${name}'`);
}

function load() {
  try {
    return require('./tracing-xray');
  } catch (err) {
    if (!notShipped(err, './tracing-xray')) throw err;
  }
  try {
    return require('./tracing-otel');
  } catch (err) {
    throw err;
  }
}

module.exports = load();
