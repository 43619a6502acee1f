"""Unit tests that need the function's dependencies (requests, aws_xray_sdk, boto3).

Run from the repository root with the dependencies importable, e.g.:

    pip install --no-deps --require-hashes --target /tmp/worker-deps \\
        -r functions/scorekeep-worker/requirements.txt
    PYTHONPATH=/tmp/worker-deps python3 -m unittest discover \\
        -s functions/scorekeep-worker/tests -t functions/scorekeep-worker

Without the dependencies these tests are skipped. They talk only to a local HTTP server.
"""

import http.server
import json
import logging
import os
import sys
import threading
import time
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("AWS_XRAY_CONTEXT_MISSING", "IGNORE_ERROR")
os.environ.pop("LAMBDA_TASK_ROOT", None)

import lambda_function as lf  # noqa: E402

# Outside a segment the patched requests logs "No segment found" on every call.
logging.getLogger("aws_xray_sdk").setLevel(logging.ERROR)

try:
    import boto3  # noqa: F401
except ImportError:
    boto3 = None

needs_deps = unittest.skipIf(lf._IMPORT_ERROR is not None,
                             f"function dependencies not importable: {lf._IMPORT_ERROR}")


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.seen.append((self.path, dict(self.headers)))
        if self.path == "/ok":
            self._reply(200, json.dumps({"id": "X"}).encode())
        elif self.path == "/bad-json":
            self._reply(200, b"<html>")
        elif self.path == "/slow":
            time.sleep(1.0)
            self._reply(200, b"{}")
        else:
            self._reply(500, b'{"error": "boom"}')

    def _reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:  # the client gave up (timeout test)
            pass

    def log_message(self, *args):
        pass


@needs_deps
class GetJsonTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        cls.server.daemon_threads = True
        cls.server.seen = []
        cls.base = f"http://127.0.0.1:{cls.server.server_address[1]}"
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def setUp(self):
        self.http = lf.requests.Session()
        self.get_json = lf.make_get_json(self.http, timeout=0.3)

    def tearDown(self):
        self.http.close()

    def test_ok(self):
        self.assertEqual(self.get_json(self.base + "/ok"), {"id": "X"})

    def test_errors_become_message_errors(self):
        for path, reason in [("/fail", "HTTP 500"), ("/bad-json", "invalid JSON"),
                             ("/slow", "failed")]:
            with self.subTest(path=path):
                with self.assertRaisesRegex(lf.MessageError, reason):
                    self.get_json(self.base + path)

    def test_connection_refused(self):
        with self.assertRaisesRegex(lf.MessageError, "failed"):
            self.get_json("http://127.0.0.1:9/ok")

    def test_trace_header_is_sent_inside_a_segment(self):
        from aws_xray_sdk.core import xray_recorder

        segment = xray_recorder.begin_segment("unit-test", sampling=1)
        try:
            self.get_json(self.base + "/ok")
        finally:
            xray_recorder.end_segment()  # default emitter: one UDP datagram to 127.0.0.1:2000
        _, headers = self.server.seen[-1]
        header = {k.lower(): v for k, v in headers.items()}.get("x-amzn-trace-id", "")
        self.assertIn("Root=" + segment.trace_id, header)


@needs_deps
class WiringTest(unittest.TestCase):
    def test_patch_all_ran(self):
        from aws_xray_sdk.core import patcher

        self.assertIn("botocore", patcher._PATCHED_MODULES)
        self.assertIn("requests", patcher._PATCHED_MODULES)

    def test_missing_queue_is_a_clear_error(self):
        with mock.patch.dict(os.environ, {"WORKER_QUEUE": ""}):
            with self.assertRaisesRegex(RuntimeError, "WORKER_QUEUE"):
                lf.lambda_handler({}, None)

    def test_handler_on_empty_queue(self):
        from .test_logic import FakeS3, FakeSqs

        sqs = FakeSqs([])
        with mock.patch.dict(os.environ, {"WORKER_QUEUE": "http://q"}), \
                mock.patch.dict(lf._clients, {"sqs": sqs, "s3": FakeS3()}):
            self.assertEqual(lf.lambda_handler({}, None), {"processed": 0, "failed": 0})
        self.assertEqual(sqs.receive_calls[0]["QueueUrl"], "http://q")

    def test_a_poison_message_is_a_faulted_subsegment_of_its_own(self):
        from aws_xray_sdk.core import xray_recorder

        from .test_logic import FakeApi, FakeS3, SqsEventTest, message

        records = [SqsEventTest.record(message(1, body="not json")),
                   SqsEventTest.record(message(2))]
        segment = xray_recorder.begin_segment("worker-test", sampling=1)
        try:
            with self.assertLogs("scorekeep-worker", level="INFO"):
                result = lf.process_records(records, FakeS3(), FakeApi())
        finally:
            xray_recorder.end_segment()
        self.assertEqual(result, {"batchItemFailures": [{"itemIdentifier": "mid-1"}]})
        bad, good = [s for s in segment.subsegments if s.name == "process message"]
        self.assertEqual((bad.annotations["MessageId"], good.annotations["MessageId"]),
                         ("mid-1", "mid-2"))
        self.assertTrue(bad.fault)
        self.assertIn("not JSON", bad.cause["exceptions"][0].message)
        self.assertFalse(getattr(good, "fault", False))

    @unittest.skipIf(boto3 is None, "boto3 not importable")
    def test_clients_are_cached_and_honour_endpoint_and_region(self):
        env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_REGION": "eu-west-3",
               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        with mock.patch.dict(os.environ, env), mock.patch.dict(lf._clients, clear=True):
            sqs = lf._client("sqs")
            self.assertIs(lf._client("sqs"), sqs)
            self.assertEqual(sqs.meta.endpoint_url, "http://127.0.0.1:4566")
            self.assertEqual(sqs.meta.region_name, "eu-west-3")


if __name__ == "__main__":
    unittest.main()
