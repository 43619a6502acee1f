"""tracing_sdk: otel and otel-layer, through the OpenTelemetry API only.

With ``otel`` the bundle also ships tracing_otel_sdk.py, which sets up the SDK and the
instrumentations; with ``otel-layer`` AWS's layer (AWS_LAMBDA_EXEC_WRAPPER=/opt/otel-instrument)
has done that and wraps the handler itself, and ``opentelemetry`` is imported from the layer.
"""

import contextlib

try:
    import tracing_otel_sdk as _sdk
except ModuleNotFoundError as exc:
    if exc.name != "tracing_otel_sdk":
        raise
    _sdk = None

SDK = "otel" if _sdk is not None else "otel-layer"


@contextlib.contextmanager
def invocation():
    """Run under the trace Lambda started (_X_AMZN_TRACE_ID), so the spans are children
    of Lambda's function segment as with the X-Ray SDK."""
    if _sdk is None:
        yield
        return
    with _sdk.invocation_context():
        yield
