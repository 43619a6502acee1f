"""Unit tests of the worker's pure logic and queue processing, with fake clients.

Run from the repository root (stdlib unittest only):

    python3 -m unittest discover -s functions/scorekeep-worker/tests -t functions/scorekeep-worker

These tests need neither AWS nor the function's dependencies: lambda_function imports
aws_xray_sdk/requests behind a guard. (tests/test_http.py needs them; put the installed
dependencies on PYTHONPATH for it, otherwise it is skipped.)
"""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("AWS_XRAY_CONTEXT_MISSING", "IGNORE_ERROR")
os.environ.pop("LAMBDA_TASK_ROOT", None)  # keep the X-Ray SDK (if present) out of Lambda mode

import lambda_function as lf  # noqa: E402

# 2024-02-29T23:59:59.999Z, the last millisecond of a leap day.
LEAP_DAY_END_MS = 1709251199999

GAME = {
    "id": "GAME0001",
    "sessionid": "SESS0001",
    "name": "tic-tac-toe",
    "users": ["USER0001", "USER0002"],
    "rules": "102",
    "startTime": "2024-02-29T23:50:00Z",
    "endTime": "2024-02-29T23:59:00Z",
    "states": ["STATE001", "STATE002", "STATE003"],
    "moves": ["MOVE0001", "MOVE0002", "MOVE0003"],
}
SESSION = {"id": "SESS0001", "owner": "USER0001", "users": GAME["users"], "games": ["GAME0001"]}


def api_objects(base="http://api.test:8080"):
    """URL -> JSON for the fake Scorekeep API."""
    objects = {
        f"{base}/api/game/SESS0001/GAME0001": GAME,
        f"{base}/api/session/SESS0001": SESSION,
    }
    for uid in GAME["users"]:
        objects[f"{base}/api/user/{uid}"] = {"id": uid, "name": "name-" + uid}
    for sid in GAME["states"]:
        objects[f"{base}/api/state/SESS0001/GAME0001/{sid}"] = {
            "id": sid, "game": "GAME0001", "state": "X        ", "turn": ["USER0002"]}
    for mid in GAME["moves"]:
        objects[f"{base}/api/move/SESS0001/GAME0001/{mid}"] = {
            "id": mid, "game": "GAME0001", "user": "USER0001", "move": "X1"}
    return objects


class FakeApi:
    def __init__(self, objects=None, fail_urls=()):
        self.objects = api_objects() if objects is None else objects
        self.fail_urls = set(fail_urls)
        self.requested = []

    def __call__(self, url):
        self.requested.append(url)
        if url in self.fail_urls or url not in self.objects:
            raise lf.MessageError(f"GET {url} returned HTTP 500")
        return self.objects[url]


class FakeSqs:
    """A queue: each receive takes up to MaxNumberOfMessages; a received message stays
    invisible for the rest of the test (its visibility timeout), deleted or not."""

    def __init__(self, messages):
        self.messages = list(messages)
        self.receive_calls = []
        self.deleted = []

    def receive_message(self, **kwargs):
        self.receive_calls.append(kwargs)
        batch = self.messages[:kwargs["MaxNumberOfMessages"]]
        self.messages = self.messages[len(batch):]
        if not batch:
            return {"ResponseMetadata": {}}  # what SQS returns for an empty queue
        return {"Messages": batch}

    def delete_message(self, QueueUrl, ReceiptHandle):
        self.deleted.append(ReceiptHandle)


class FakeS3:
    def __init__(self, fail=False):
        self.objects = {}
        self.calls = []
        self.fail = fail

    def put_object(self, **kwargs):
        self.calls.append(kwargs)
        if self.fail:
            raise RuntimeError("AccessDenied")
        self.objects[(kwargs["Bucket"], kwargs["Key"])] = kwargs["Body"]


def message(n, body=None, sent=LEAP_DAY_END_MS):
    if body is None:
        body = {"endpoint": "api.test:8080", "gameid": "GAME0001",
                "sessionid": "SESS0001", "bucketname": "scorekeep-games"}
    msg = {"MessageId": f"mid-{n}", "ReceiptHandle": f"rh-{n}",
           "Body": body if isinstance(body, str) else json.dumps(body)}
    if sent is not None:
        msg["Attributes"] = {"SentTimestamp": str(sent)}
    return msg


class NormalizeEndpointTest(unittest.TestCase):
    def test_forms(self):
        cases = {
            "host:8080": "http://host:8080",
            "host:8080/": "http://host:8080",
            "http://host:8080": "http://host:8080",
            "http://host:8080/": "http://host:8080",
            "https://api.example.com/": "https://api.example.com",
            " 10.0.0.1:5000 ": "http://10.0.0.1:5000",
            "http://host/prefix/": "http://host/prefix",
        }
        for given, expected in cases.items():
            with self.subTest(given=given):
                self.assertEqual(lf.normalize_endpoint(given), expected)

    def test_rejects(self):
        for given in ["", "   ", None, 42, "ftp://host", "http://"]:
            with self.subTest(given=given):
                with self.assertRaises(lf.MessageError):
                    lf.normalize_endpoint(given)


class ObjectKeyTest(unittest.TestCase):
    def test_utc_date(self):
        self.assertEqual(lf.object_key(LEAP_DAY_END_MS, "S", "G"), "2024/02/29/S/G.json")
        self.assertEqual(lf.object_key(LEAP_DAY_END_MS + 1, "S", "G"), "2024/03/01/S/G.json")
        self.assertEqual(lf.object_key(0, "S", "G"), "1970/01/01/S/G.json")

    def test_independent_of_local_timezone(self):
        old = os.environ.get("TZ")
        try:
            os.environ["TZ"] = "America/Los_Angeles"
            if hasattr(__import__("time"), "tzset"):
                __import__("time").tzset()
            self.assertEqual(lf.object_key(LEAP_DAY_END_MS, "S", "G"), "2024/02/29/S/G.json")
        finally:
            if old is None:
                os.environ.pop("TZ", None)
            else:
                os.environ["TZ"] = old
            if hasattr(__import__("time"), "tzset"):
                __import__("time").tzset()


class ParseMessageTest(unittest.TestCase):
    def test_good(self):
        order = lf.parse_message(message(1))
        self.assertEqual(order, {
            "endpoint": "http://api.test:8080", "gameid": "GAME0001", "sessionid": "SESS0001",
            "bucketname": "scorekeep-games", "sent_timestamp": LEAP_DAY_END_MS,
        })

    def test_malformed(self):
        good = json.loads(message(1)["Body"])
        cases = {
            "not json": message(1, body="{nope"),
            "not an object": message(1, body="[1, 2]"),
            "missing gameid": message(1, body={k: v for k, v in good.items() if k != "gameid"}),
            "empty sessionid": message(1, body=dict(good, sessionid="")),
            "slash in gameid": message(1, body=dict(good, gameid="a/b")),
            "numeric bucket": message(1, body=dict(good, bucketname=5)),
            "bad endpoint": message(1, body=dict(good, endpoint="")),
            "no timestamp": message(1, sent=None),
            "bad timestamp": message(1, sent="yesterday"),
            "no body": {"MessageId": "x", "ReceiptHandle": "y"},
        }
        for name, msg in cases.items():
            with self.subTest(name):
                with self.assertRaises(lf.MessageError):
                    lf.parse_message(msg)

    def test_missing_fields_are_named(self):
        with self.assertRaisesRegex(lf.MessageError, "endpoint, bucketname"):
            lf.parse_message(message(1, body={"gameid": "G", "sessionid": "S"}))


class AssembleRecordTest(unittest.TestCase):
    def test_fetch_record_dereferences_everything(self):
        api = FakeApi()
        record = lf.fetch_record(api, "http://api.test:8080", "SESS0001", "GAME0001")
        objects = api_objects()
        self.assertEqual(record["id"], "GAME0001")
        self.assertEqual(record["name"], "tic-tac-toe")
        self.assertEqual(record["rules"], "102")
        self.assertEqual(record["session"], SESSION)
        self.assertEqual([u["id"] for u in record["users"]], GAME["users"])
        self.assertEqual([s["id"] for s in record["states"]], GAME["states"])
        self.assertEqual([m["id"] for m in record["moves"]], GAME["moves"])
        self.assertTrue(all(isinstance(x, dict)
                            for x in record["users"] + record["states"] + record["moves"]))
        self.assertEqual(len(api.requested), 2 + 2 + 3 + 3)
        self.assertEqual(set(api.requested), set(objects))
        self.assertEqual(GAME["users"], ["USER0001", "USER0002"], "input left untouched")

    def test_null_lists_mean_empty(self):
        game = dict(GAME, states=None, moves=None, users=[])
        api = FakeApi(objects={"http://h/api/game/SESS0001/GAME0001": game,
                               "http://h/api/session/SESS0001": SESSION})
        record = lf.fetch_record(api, "http://h", "SESS0001", "GAME0001")
        self.assertEqual((record["users"], record["states"], record["moves"]), ([], [], []))

    def test_bad_game_shapes(self):
        for game in ([1, 2], dict(GAME, users="USER0001"), dict(GAME, moves=[1])):
            with self.subTest(game=game):
                api = FakeApi(objects={"http://h/api/game/S/G": game})
                with self.assertRaises(lf.MessageError):
                    lf.fetch_record(api, "http://h", "S", "G")

    def test_ids_are_url_quoted(self):
        api = FakeApi(objects={})
        with self.assertRaises(lf.MessageError):
            lf.fetch_record(api, "http://h", "S 1", "G?x")
        self.assertEqual(api.requested, ["http://h/api/game/S%201/G%3Fx"])


class ApiTimeoutTest(unittest.TestCase):
    def test_values(self):
        self.assertEqual(lf.api_timeout({}), 5.0)
        self.assertEqual(lf.api_timeout({"API_TIMEOUT_SECONDS": ""}), 5.0)
        self.assertEqual(lf.api_timeout({"API_TIMEOUT_SECONDS": "2.5"}), 2.5)
        for bad in ("0", "-1", "soon", "nan"):
            with self.subTest(bad=bad):
                with self.assertRaisesRegex(ValueError, "API_TIMEOUT_SECONDS"):
                    lf.api_timeout({"API_TIMEOUT_SECONDS": bad})


class ProcessQueueTest(unittest.TestCase):
    QUEUE = "http://sqs.test/123456789012/worker"

    def run_queue(self, messages, api=None, s3=None):
        sqs, s3, api = FakeSqs(messages), s3 or FakeS3(), api or FakeApi()
        with self.assertLogs("scorekeep-worker", level="INFO") as logs:
            result = lf.process_queue(sqs, s3, self.QUEUE, api)
        return result, sqs, s3, "\n".join(logs.output)

    def test_empty_queue(self):
        sqs, s3 = FakeSqs([]), FakeS3()
        self.assertEqual(lf.process_queue(sqs, s3, self.QUEUE, FakeApi()),
                         {"processed": 0, "failed": 0})
        self.assertEqual(sqs.receive_calls, [{
            "QueueUrl": self.QUEUE, "MaxNumberOfMessages": 10,
            "AttributeNames": ["SentTimestamp", "AWSTraceHeader"], "WaitTimeSeconds": 0,
        }])
        self.assertEqual((s3.calls, sqs.deleted), ([], []))

    def test_25_messages_are_drained_in_one_invocation(self):
        messages = [message(n) for n in range(25)]
        result, sqs, s3, _ = self.run_queue(messages)
        self.assertEqual(result, {"processed": 25, "failed": 0})
        # Batches of 10, 10 and 5: a batch that is not full ends the drain. Long polling
        # after the first (which an empty queue answers at once).
        self.assertEqual([c["WaitTimeSeconds"] for c in sqs.receive_calls], [0, 1, 1])
        self.assertEqual(len(sqs.deleted), 25)

    def test_a_drain_stops_receiving_when_its_time_nears_the_end(self):
        sqs, s3 = FakeSqs([message(n) for n in range(25)]), FakeS3()
        left = iter([60.0, 60.0, 14.0, 14.0])  # a quarter of 60 s is the reserve: 15 s
        with self.assertLogs("scorekeep-worker", level="INFO"):
            result = lf.process_queue(sqs, s3, self.QUEUE, FakeApi(), lambda: next(left))
        # One batch, then too little time for another: 15 stay queued for the next run.
        self.assertEqual(result, {"processed": 10, "failed": 0})
        self.assertEqual(len(sqs.messages), 15)

    def test_good_message_is_written_then_deleted(self):
        result, sqs, s3, _ = self.run_queue([message(1)])
        self.assertEqual(result, {"processed": 1, "failed": 0})
        self.assertEqual(sqs.deleted, ["rh-1"])
        (call,) = s3.calls
        self.assertEqual(call["Bucket"], "scorekeep-games")
        self.assertEqual(call["Key"], "2024/02/29/SESS0001/GAME0001.json")
        self.assertEqual(call["ContentType"], "application/json")
        record = lf.fetch_record(FakeApi(), "http://api.test:8080", "SESS0001", "GAME0001")
        self.assertEqual(call["Body"], json.dumps(record, sort_keys=True).encode())

    def test_failures_stay_on_the_queue_and_others_complete(self):
        api = FakeApi(fail_urls={"http://api.test:8080/api/game/SESS0001/BROKEN01"})
        bad_game = json.loads(message(1)["Body"])
        bad_game["gameid"] = "BROKEN01"
        messages = [message(1, body="not json"), message(2), message(3, body=bad_game)]
        result, sqs, s3, logs = self.run_queue(messages, api=api)
        self.assertEqual(result, {"processed": 1, "failed": 2})
        self.assertEqual(sqs.deleted, ["rh-2"])
        self.assertEqual(len(s3.calls), 1)
        self.assertIn("mid-1", logs)
        self.assertIn("not JSON", logs)
        self.assertIn("mid-3", logs)
        self.assertIn("HTTP 500", logs)

    def test_failed_write_is_not_deleted(self):
        result, sqs, _, logs = self.run_queue([message(1)], s3=FakeS3(fail=True))
        self.assertEqual(result, {"processed": 0, "failed": 1})
        self.assertEqual(sqs.deleted, [])
        self.assertIn("AccessDenied", logs)


class SqsEventTest(unittest.TestCase):
    """The event source mapping's trigger: records in, ReportBatchItemFailures out."""

    @staticmethod
    def record(msg):
        return {"messageId": msg["MessageId"], "receiptHandle": msg["ReceiptHandle"],
                "body": msg["Body"], "attributes": dict(msg.get("Attributes") or {},
                                                        ApproximateReceiveCount="1"),
                "messageAttributes": {}, "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:worker"}

    def test_an_sqs_event_is_recognised_and_nothing_else(self):
        self.assertTrue(lf.is_sqs_event({"Records": [self.record(message(1))]}))
        self.assertFalse(lf.is_sqs_event({}))
        self.assertFalse(lf.is_sqs_event({"Records": [{"eventSource": "aws:s3"}]}))
        self.assertFalse(lf.is_sqs_event({"source": "aws.events"}))  # the schedule

    def test_a_record_reads_as_the_message_receive_gives(self):
        msg = lf.as_message(self.record(message(7)))
        self.assertEqual(msg["MessageId"], "mid-7")
        self.assertEqual(msg["Attributes"], {"SentTimestamp": str(LEAP_DAY_END_MS)})
        self.assertEqual(lf.parse_message(msg)["gameid"], "GAME0001")

    def test_only_the_poison_record_is_reported_failed(self):
        records = [self.record(message(1)), self.record(message(2, body="not json")),
                   self.record(message(3))]
        s3 = FakeS3()
        with self.assertLogs("scorekeep-worker", level="INFO") as logs:
            result = lf.process_records(records, s3, FakeApi())
        self.assertEqual(result, {"batchItemFailures": [{"itemIdentifier": "mid-2"}]})
        self.assertEqual(len(s3.calls), 2)
        self.assertIn("not JSON", "\n".join(logs.output))


if __name__ == "__main__":
    unittest.main()
