"""tracing_sdk: xray. ``patch_all()`` patches botocore and requests (not the indirect
httplib, so each API call shows up once). In Lambda the SDK streams each subsegment to
the daemon as soon as it closes (streaming threshold 0), so nothing is left unsent; the
parent is Lambda's function segment, which the SDK reads per invocation."""

import contextlib
import traceback

from aws_xray_sdk.core import patch_all, xray_recorder

SDK = "xray"

patch_all()


def invocation(lambda_context=None):
    # Lambda's own segment already carries the function ARN (and so the account).
    return contextlib.nullcontext()


@contextlib.contextmanager
def message(message_id, trace_header=None):
    """A subsegment ``process message`` (annotation MessageId; the producer's trace header as
    metadata); an exception is added to it, which marks it as a fault, and raised again.
    Outside a segment (no trace) the SDK gives no subsegment and this only runs the body."""
    subsegment = xray_recorder.begin_subsegment("process message")
    if subsegment is not None:
        subsegment.put_annotation("MessageId", message_id)
        if trace_header:
            subsegment.put_metadata("producer_trace_header", trace_header, "sqs")
    try:
        yield
    except Exception as exc:
        if subsegment is not None:
            subsegment.add_exception(exc, traceback.extract_tb(exc.__traceback__))
        raise
    finally:
        if subsegment is not None:
            xray_recorder.end_subsegment()
