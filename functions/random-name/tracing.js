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
const fs = require('node:fs');
const path = require('node:path');

const shipped = (file) => fs.existsSync(path.join(__dirname, file));

module.exports = shipped('tracing-xray.js') ? require('./tracing-xray') : require('./tracing-otel');
