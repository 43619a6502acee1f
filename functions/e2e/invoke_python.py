"""Invokes a Python Lambda handler the way the runtime would, for the e2e driver.

    python invoke_python.py TASK_ROOT [HANDLER] [EVENT_JSON]

HANDLER defaults to lambda_function.lambda_handler; EVENT_JSON defaults to stdin.
The task root goes first on sys.path, like /var/task in Lambda; packages the runtime
provides (boto3, botocore, ...) come from this interpreter's own site-packages.
Prints the JSON result on stdout; on failure prints the traceback and exits 1.
"""

import importlib
import json
import logging
import os
import sys
import time
import traceback
import uuid


class Context:
    def __init__(self):
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
        self.function_version = "$LATEST"
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + 30

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main(argv):
    if len(argv) < 2:
        raise SystemExit("usage: invoke_python.py TASK_ROOT [HANDLER] [EVENT_JSON]")
    task_root = os.path.abspath(argv[1])
    handler_spec = argv[2] if len(argv) > 2 else "lambda_function.lambda_handler"
    event = json.loads(argv[3] if len(argv) > 3 else (sys.stdin.read() or "{}"))

    sys.path.insert(0, task_root)
    # The Lambda runtime logs through a root handler; INFO from the function's own
    # loggers gets through, the root stays at WARNING.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(levelname)s %(name)s %(message)s")

    module_name, _, func_name = handler_spec.rpartition(".")
    handler = getattr(importlib.import_module(module_name), func_name)
    result = handler(event, Context())
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    try:
        main(sys.argv)
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        sys.exit(1)
