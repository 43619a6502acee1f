"""tracing_sdk: otel and otel-layer, through the OpenTelemetry API only.

With ``otel`` the bundle also ships tracing_otel_sdk.py, which sets up the SDK and the
instrumentations; with ``otel-layer`` AWS's layer (AWS_LAMBDA_EXEC_WRAPPER=/opt/otel-instrument)
has done that and wraps the handler itself, and ``opentelemetry`` is imported from the layer.
"""

import contextlib
import os

from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind

try:
    import tracing_otel_sdk as _sdk
except ModuleNotFoundError as exc:
    if exc.name != "tracing_otel_sdk":
        raise
    _sdk = None

SDK = "otel" if _sdk is not None else "otel-layer"


@contextlib.contextmanager
def invocation(lambda_context=None):
    """Run under the trace Lambda started (_X_AMZN_TRACE_ID), so the spans are children
    of Lambda's function segment as with the X-Ray SDK; ``lambda_context`` names the account
    (``cloud.account.id``) when given."""
    if _sdk is None:
        yield
        return
    with _sdk.invocation_context(lambda_context):
        yield


def _producer_links(trace_header):
    """A link to the span that sent the message, from SQS's AWSTraceHeader attribute."""
    if not trace_header:
        return []
    try:
        from opentelemetry.propagators.aws import AwsXRayPropagator

        ctx = AwsXRayPropagator().extract({"X-Amzn-Trace-Id": trace_header})
        producer = trace.get_current_span(ctx).get_span_context()
    except Exception:  # a malformed header only loses the link
        return []
    return [Link(producer)] if producer.is_valid else []


@contextlib.contextmanager
def message(message_id, trace_header=None):
    """A CONSUMER span ``process message`` with the ``messaging.*`` attributes, linked to the
    producer's span; an exception is recorded on it (an exception event, status ERROR) and
    raised again."""
    queue = os.environ.get("WORKER_QUEUE", "").rstrip("/").rpartition("/")[2]
    attributes = {
        "messaging.system": "aws_sqs",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.message.id": message_id,
    }
    if queue:
        attributes["messaging.destination.name"] = queue
    tracer = trace.get_tracer("scorekeep-worker")
    with tracer.start_as_current_span(
        "process message",
        kind=SpanKind.CONSUMER,
        links=_producer_links(trace_header),
        attributes=attributes,
        record_exception=True,
        set_status_on_exception=True,
    ) as span:
        yield span
