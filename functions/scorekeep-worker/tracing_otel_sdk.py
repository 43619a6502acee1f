"""tracing_sdk: otel. The OpenTelemetry SDK set up for X-Ray inside Lambda, without a collector.

X-Ray trace ids (AwsXRayIdGenerator), X-Amzn-Trace-Id and W3C traceparent propagation, the
botocore and requests instrumentations only (each instrumentation costs cold-start time),
and every span sent as soon as it ends to the Lambda X-Ray daemon as OTLP over UDP, in the
format of ADOT's OTLP UDP exporter: the daemon header line, ``T1S`` (sampled spans), then the
base64 of an OTLP protobuf ExportTraceServiceRequest. ADOT's own exporter ships inside
aws-opentelemetry-distro, which requires some 50 instrumentations; this one is the same
wire format in a few lines.
"""

import base64
import contextlib
import logging
import os
import socket

from opentelemetry import context, propagate, trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.propagators.aws import AwsXRayLambdaPropagator, AwsXRayPropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

logger = logging.getLogger(__name__)

DAEMON_HEADER = b'{"format":"json","version":1}\n'
SAMPLED_SPANS = b"T1S"


def daemon_address(value=None):
    """``host:port``, or Lambda's ``udp:host:port tcp:host:port`` form."""
    value = value or os.environ.get("AWS_XRAY_DAEMON_ADDRESS") or "127.0.0.1:2000"
    parts = value.split()
    udp = next((p for p in parts if p.startswith("udp:")), parts[0])
    host, _, port = udp.removeprefix("udp:").rpartition(":")
    return host, int(port)


class UdpSpanExporter(SpanExporter):
    def __init__(self, address=None):
        self._address = address or daemon_address()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def export(self, spans):
        message = DAEMON_HEADER + SAMPLED_SPANS + base64.b64encode(
            encode_spans(spans).SerializeToString())
        try:
            self._socket.sendto(message, self._address)
        except OSError as exc:
            logger.warning("sending %d span(s) to the X-Ray daemon at %s:%d failed: %s",
                           len(spans), *self._address, exc)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self):
        self._socket.close()


def resource_attributes(env=os.environ):
    """What the spans' resource says of the function: its name and published version (which
    Lambda sets per version), the region; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES,
    which ``Resource.create`` reads, win over these."""
    name = env.get("AWS_LAMBDA_FUNCTION_NAME", "scorekeep-worker")
    version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
    attributes = {
        "service.name": name,
        "faas.name": name,
        "cloud.provider": "aws",
        "cloud.platform": "aws_lambda",
    }
    if version:
        attributes["faas.version"] = version
        attributes["service.version"] = version
    if env.get("AWS_REGION"):
        attributes["cloud.region"] = env["AWS_REGION"]
    overridden = {"service.name"} if env.get("OTEL_SERVICE_NAME") else set()
    for pair in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key = pair.partition("=")[0].strip()
        if key:
            overridden.add(key)
    return {k: v for k, v in attributes.items() if k not in overridden}


def account_id(arn):
    """The account id (12 digits) in a Lambda function ARN, its 5th field; None if none."""
    fields = (arn or "").split(":")
    account = fields[4] if len(fields) > 4 else ""
    return account if len(account) == 12 and account.isdigit() else None


class AccountSpanProcessor(SpanProcessor):
    """``cloud.account.id`` on every span once an invocation has told it: Lambda sets no
    variable with the account, only the invoked ARN in each invocation's context, which comes
    after the resource is fixed."""

    account = None

    def on_start(self, span, parent_context=None):
        if self.account:
            span.set_attribute("cloud.account.id", self.account)


_account = AccountSpanProcessor()


def _setup():
    provider = TracerProvider(
        id_generator=AwsXRayIdGenerator(),
        resource=Resource.create(resource_attributes()),
    )
    provider.add_span_processor(_account)
    # One datagram per span as it ends, like the X-Ray SDK's streaming in Lambda: nothing
    # is left buffered when Lambda freezes the environment.
    provider.add_span_processor(SimpleSpanProcessor(UdpSpanExporter()))
    trace.set_tracer_provider(provider)
    propagate.set_global_textmap(
        CompositePropagator([AwsXRayPropagator(), TraceContextTextMapPropagator()]))
    BotocoreInstrumentor().instrument(tracer_provider=provider)
    RequestsInstrumentor().instrument(tracer_provider=provider)


_setup()


@contextlib.contextmanager
def invocation_context(lambda_context=None):
    # The invocation's Lambda context, when given, names the account for the spans.
    account = account_id(getattr(lambda_context, "invoked_function_arn", None))
    if account:
        _account.account = account
    # Reads _X_AMZN_TRACE_ID, which the Lambda runtime sets for each invocation.
    token = context.attach(AwsXRayLambdaPropagator().extract({}))
    try:
        yield
    finally:
        context.detach(token)
