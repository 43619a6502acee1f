'use strict';
/**
 * tracing_sdk: otel. The OpenTelemetry SDK set up for X-Ray inside Lambda, without a
 * collector: X-Ray trace ids (AWSXRayIdGenerator), X-Amzn-Trace-Id and W3C traceparent
 * propagation, the AWS SDK v3 instrumentation only (the function makes no other calls;
 * each instrumentation costs cold-start time), and every span sent as soon as it ends to
 * the Lambda X-Ray daemon as OTLP over UDP, in the format of ADOT's OTLP UDP exporter:
 * the daemon header line, `T1S` (sampled spans), then the base64 of an OTLP protobuf
 * ExportTraceServiceRequest.
 */
const dgram = require('node:dgram');
const api = require('@opentelemetry/api');
const { CompositePropagator, ExportResultCode, W3CTraceContextPropagator } = require('@opentelemetry/core');
const { AWSXRayIdGenerator } = require('@opentelemetry/id-generator-aws-xray');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { AwsInstrumentation } = require('@opentelemetry/instrumentation-aws-sdk');
const { ProtobufTraceSerializer } = require('@opentelemetry/otlp-transformer');
const { AWSXRayPropagator } = require('@opentelemetry/propagator-aws-xray');
const { detectResources, envDetector, resourceFromAttributes } = require('@opentelemetry/resources');
const { NodeTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-node');

const DAEMON_HEADER = '{"format":"json","version":1}\n';
const SAMPLED_SPANS = 'T1S';

/** `host:port`, or Lambda's `udp:host:port tcp:host:port` form. */
function daemonAddress(value = process.env.AWS_XRAY_DAEMON_ADDRESS || '127.0.0.1:2000') {
  const udp = value.split(/\s+/).find((part) => part.startsWith('udp:')) || value.split(/\s+/)[0];
  const hostPort = udp.replace(/^udp:/, '');
  const colon = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, colon), port: Number(hostPort.slice(colon + 1)) };
}

class UdpSpanExporter {
  constructor(address = daemonAddress()) {
    this.address = address;
    this.socket = dgram.createSocket('udp4');
    // The socket must not keep the runtime's event loop alive between invocations.
    this.socket.unref();
  }

  export(spans, done) {
    const body = Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)).toString('base64');
    const message = Buffer.from(DAEMON_HEADER + SAMPLED_SPANS + body);
    this.socket.send(message, this.address.port, this.address.host, (error) => {
      done(error ? { code: ExportResultCode.FAILED, error } : { code: ExportResultCode.SUCCESS });
    });
  }

  forceFlush() {
    return Promise.resolve();
  }

  shutdown() {
    this.socket.close();
    return Promise.resolve();
  }
}

/**
 * What the spans' resource says of the function: its name and published version (which
 * Lambda sets per version) and the region. OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
 * (read by the env detector, merged last) win over these.
 */
function functionResource(env = process.env) {
  const name = env.AWS_LAMBDA_FUNCTION_NAME || 'random-name';
  const attributes = {
    'service.name': name,
    'faas.name': name,
    'cloud.provider': 'aws',
    'cloud.platform': 'aws_lambda',
  };
  if (env.AWS_LAMBDA_FUNCTION_VERSION) {
    attributes['faas.version'] = env.AWS_LAMBDA_FUNCTION_VERSION;
    attributes['service.version'] = env.AWS_LAMBDA_FUNCTION_VERSION;
  }
  if (env.AWS_REGION) attributes['cloud.region'] = env.AWS_REGION;
  return resourceFromAttributes(attributes).merge(detectResources({ detectors: [envDetector] }));
}

/** The account id (12 digits) in a Lambda function ARN, its 5th field; null if there is none. */
function accountId(arn) {
  const field = String(arn || '').split(':')[4];
  return /^\d{12}$/.test(field || '') ? field : null;
}

/**
 * `cloud.account.id` on every span once an invocation has told it: Lambda sets no variable
 * with the account, only the invoked ARN in each invocation's context, which comes after the
 * resource is fixed.
 */
class AccountSpanProcessor {
  constructor() {
    this.account = null;
  }

  onStart(span) {
    if (this.account) span.setAttribute('cloud.account.id', this.account);
  }

  onEnd() {}

  forceFlush() {
    return Promise.resolve();
  }

  shutdown() {
    return Promise.resolve();
  }
}

const account = new AccountSpanProcessor();

const provider = new NodeTracerProvider({
  idGenerator: new AWSXRayIdGenerator(),
  resource: functionResource(),
  // One datagram per span as it ends, like the X-Ray SDK's streaming in Lambda: nothing is
  // left buffered when Lambda freezes the environment.
  spanProcessors: [account, new SimpleSpanProcessor(new UdpSpanExporter())],
});
provider.register({
  propagator: new CompositePropagator({
    propagators: [new AWSXRayPropagator(), new W3CTraceContextPropagator()],
  }),
});
registerInstrumentations({
  tracerProvider: provider,
  instrumentations: [new AwsInstrumentation({ suppressInternalInstrumentation: true })],
});

/**
 * The context of Lambda's trace for this invocation (X-Ray header in _X_AMZN_TRACE_ID); the
 * invocation's Lambda context, when given, names the account for the spans.
 */
function invocationContext(lambdaContext) {
  const known = accountId(lambdaContext && lambdaContext.invokedFunctionArn);
  if (known) account.account = known;
  const carrier = { 'x-amzn-trace-id': process.env._X_AMZN_TRACE_ID || '' };
  return new AWSXRayPropagator().extract(api.ROOT_CONTEXT, carrier, api.defaultTextMapGetter);
}

module.exports = {
  invocationContext,
  flush: () => provider.forceFlush(),
  daemonAddress,
  accountId,
};
