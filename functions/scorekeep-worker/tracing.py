"""The worker's only contact with a tracing SDK.

The bundler ships the implementation for the function's ``tracing_sdk``
(scorekeep-deploy.yaml) and leaves the others out:

  xray        tracing_xray.py                          (aws-xray-sdk)
  otel        tracing_otel.py + tracing_otel_sdk.py    (OpenTelemetry SDK in the bundle)
  otel-layer  tracing_otel.py                          (SDK from AWS's OpenTelemetry layer)

In the source tree all are present and X-Ray, the default, is used (unit tests).
Importing this module instruments boto3/botocore and requests, so import it before
making clients. ``invocation(context)`` is a context manager a handler runs each invocation in;
``message(message_id, trace_header)`` one each queue message is processed in: a subsegment
(X-Ray) or a CONSUMER span (OpenTelemetry) that records the exception, and is marked as
failed, when processing raises.
"""

try:
    from tracing_xray import SDK, invocation, message  # noqa: F401
except ModuleNotFoundError as exc:
    if exc.name != "tracing_xray":
        raise
    from tracing_otel import SDK, invocation, message  # noqa: F401
