"""scorekeep-deploy `invoke --local`: runs one Lambda handler the way the Python runtime would.

    python -S runner.py TASK_ROOT HANDLER EVENT_FILE RESULT_FILE TIMEOUT_MS RUNTIME_PROVIDED

HANDLER is `module.function` (`path/to/module.function` works too). The task root goes first on
sys.path, like /var/task in Lambda, then RUNTIME_PROVIDED (when not empty): the packages the
runtime provides (boto3, botocore, ...), like Lambda's runtime directory after /var/task. With
-S, this interpreter's own site-packages are not on the path. The outcome goes to RESULT_FILE,
never to stdout, so the handler's own output stays separate:
    {"ok": true, "result": ..., "duration_ms": n}
    {"ok": false, "error": {"type": ..., "message": ..., "stack": [...]}, "duration_ms": n}
"""

import importlib
import json
import logging
import os
import sys
import time
import traceback
import uuid

TASK_ROOT, HANDLER, EVENT_FILE, RESULT_FILE, TIMEOUT_MS, RUNTIME_PROVIDED = (sys.argv[1:7] + [""])[:6]

# This script's own directory is sys.path[0]; the task root takes its place, and the
# runtime-provided packages come right after it (before the standard library's zip, if any).
sys.path[0:1] = [os.path.abspath(TASK_ROOT)] + ([RUNTIME_PROVIDED] if RUNTIME_PROVIDED else [])


class Context:
    def __init__(self, timeout_ms):
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = (
            f"arn:aws:lambda:{region}:000000000000:function:{self.function_name}"
        )
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self._deadline = time.monotonic() + timeout_ms / 1000.0

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LambdaError(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def error_info(exc, kind=None):
    # The runner's own frames say nothing about the handler.
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    if isinstance(exc, LambdaError) and exc.__cause__ is None:
        stack = []  # raised by the runner itself (handler not found): nothing to show
    elif isinstance(exc, LambdaError):
        # The import failed: show the cause, without the runner's and importlib's frames.
        cause = exc.__cause__
        frames = [f for f in traceback.extract_tb(cause.__traceback__)
                  if f.filename != __file__ and "importlib" not in f.filename]
        stack = ("Traceback (most recent call last):\n"
                 + "".join(traceback.format_list(frames))
                 + "".join(traceback.format_exception_only(type(cause), cause))).splitlines()
    else:
        stack = "".join(traceback.format_exception(type(exc), exc, tb)).splitlines()
    return {
        "type": kind or getattr(exc, "kind", None) or type(exc).__name__,
        "message": str(exc),
        "stack": stack,
    }


def load_handler():
    module_name, _, function_name = HANDLER.rpartition(".")
    if not module_name:
        raise LambdaError("Runtime.MalformedHandlerName",
                          f"handler {HANDLER!r} is not of the form module.function")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except Exception as exc:
        raise LambdaError("Runtime.ImportModuleError",
                          f"Unable to import module {module_name!r}: {exc}") from exc
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise LambdaError("Runtime.HandlerNotFound",
                          f"handler {function_name!r} missing on module {module_name!r}")
    return handler


def write(payload, started):
    payload["duration_ms"] = round((time.monotonic() - started) * 1000, 3)
    try:
        text = json.dumps(payload)
    except (TypeError, ValueError) as exc:
        text = json.dumps({"ok": False, "error": error_info(exc, "Runtime.MarshalError"),
                           "duration_ms": payload["duration_ms"]})
    with open(RESULT_FILE, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    # The Lambda runtime logs through a root handler at WARNING: INFO from the function's
    # own loggers (when they set that level) gets through.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="[%(levelname)s] %(name)s: %(message)s")
    started = time.monotonic()
    try:
        with open(EVENT_FILE, encoding="utf-8") as f:
            event = json.load(f)
        handler = load_handler()
        context = Context(int(TIMEOUT_MS))
        started = time.monotonic()
        result = handler(event, context)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too: the handler failed
        write({"ok": False, "error": error_info(exc)}, started)
        code = 1
    else:
        write({"ok": True, "result": result}, started)
        code = 0
    sys.stdout.flush()
    sys.stderr.flush()
    # Lambda freezes the process once the handler returns: threads the handler left running
    # must not keep it alive.
    os._exit(code)


main()
