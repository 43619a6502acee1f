'use strict';
/**
 * tracing_sdk: xray. aws-xray-sdk-core switches to Lambda mode at require time when
 * LAMBDA_TASK_ROOT is set: it builds a facade segment from _X_AMZN_TRACE_ID and sends every
 * subsegment to the daemon (AWS_XRAY_DAEMON_ADDRESS) as soon as it closes.
 */
const AWSXRay = require('aws-xray-sdk-core');

module.exports = {
  sdk: 'xray',
  captureClient: (client) => AWSXRay.captureAWSv3Client(client),
  annotate(name, annotations) {
    AWSXRay.captureFunc(name, (subsegment) => {
      // subsegment is undefined only when the SDK has no segment to attach to (it has
      // already logged that).
      if (subsegment) {
        for (const [key, value] of Object.entries(annotations)) {
          subsegment.addAnnotation(key, value);
        }
      }
    });
  },
  // Lambda's own segment is the parent; the SDK reads it per invocation.
  wrapHandler: (handler) => handler,
};
