#!/usr/bin/env python3
"""End-to-end test of the two Lambda functions against a running moto server.

    python functions/e2e/run_e2e.py --endpoint http://127.0.0.1:5055 \\
        --node-task-root DIR --python-task-root DIR [--python BIN] [--node BIN]

Each task root is an unpacked bundle (sources plus installed dependencies; see
prepare_task_roots.sh). The moto server must already be running at --endpoint. Needs
Python 3.11+ with boto3 (and, for --python, boto3 importable by that interpreter: the
worker bundle leaves it out as the Lambda runtime provides it).

The handlers run as subprocesses through invoke_node.js / invoke_python.py, with an
environment simulating Lambda: LAMBDA_TASK_ROOT, a fresh _X_AMZN_TRACE_ID per invocation
and AWS_XRAY_DAEMON_ADDRESS pointing at a local UDP socket that collects the X-Ray
documents the SDKs really send. A local HTTP stub plays the Scorekeep API.

Prints PASS/FAIL per scenario and finally "e2e: N passed, M failed"; exits 1 on any failure.
"""

import argparse
import datetime
import http.server
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time

import boto3

HERE = os.path.dirname(os.path.abspath(__file__))
REGION = "us-east-1"
INVOKE_TIMEOUT = 60
WORKER_VISIBILITY_TIMEOUT = 4  # seconds; failed messages reappear after this


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


# ---------------------------------------------------------------------------
# X-Ray daemon stand-in
# ---------------------------------------------------------------------------

class XRayCollector:
    """Receives X-Ray daemon datagrams: '{"format":"json","version":1}\\n{document}'."""

    HEADER = {"format": "json", "version": 1}

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.documents = []
        self.malformed = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            header, _, body = data.partition(b"\n")
            try:
                if json.loads(header) != self.HEADER:
                    raise ValueError("unexpected header")
                doc = json.loads(body)
            except ValueError:
                with self._lock:
                    self.malformed.append(data)
                continue
            with self._lock:
                self.documents.append(doc)

    def for_trace(self, trace_id):
        with self._lock:
            return [d for d in self.documents if d.get("trace_id") == trace_id]

    def wait_for(self, trace_id, predicate, timeout=5.0):
        """Documents of the trace, once predicate(documents) holds (or at timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            docs = self.for_trace(trace_id)
            if predicate(docs) or time.monotonic() > deadline:
                return docs
            time.sleep(0.05)

    def close(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()


def find_subsegments(docs, name=None, operation=None, namespace=None):
    found = []
    for d in docs:
        if name is not None and d.get("name", "").lower() != name.lower():
            continue
        if namespace is not None and d.get("namespace") != namespace:
            continue
        if operation is not None and (d.get("aws") or {}).get("operation") != operation:
            continue
        found.append(d)
    return found


# ---------------------------------------------------------------------------
# Scorekeep API stub
# ---------------------------------------------------------------------------

class ScorekeepStub:
    """Serves one game (2 users, 3 states, 3 moves); the game FAIL_GAME answers 500."""

    def __init__(self, run_id):
        tag = run_id.upper()
        self.session_id = "SESS" + tag
        self.game_id = "GAME" + tag
        self.fail_game_id = "FAIL" + tag
        users = [{"id": "USR1" + tag, "name": "Alice"}, {"id": "USR2" + tag, "name": "Bob"}]
        game_ref = {"game": self.game_id}
        self.states = [dict(game_ref, id=f"STA{i}" + tag, state=board, turn=[users[i % 2]["id"]])
                       for i, board in enumerate(["X        ", "X   O    ", "X   O   X"])]
        self.moves = [dict(game_ref, id=f"MOV{i}" + tag, user=users[i % 2]["id"], move=move)
                      for i, move in enumerate(["X0", "O4", "X8"])]
        self.users = users
        self.session = {"id": self.session_id, "owner": users[0]["id"], "name": "e2e session",
                        "users": [u["id"] for u in users], "games": [self.game_id]}
        self.game = {
            "id": self.game_id, "sessionid": self.session_id, "name": "tic-tac-toe",
            "users": [u["id"] for u in users], "rules": "102",
            "startTime": "2024-02-29T23:50:00Z", "endTime": "2024-02-29T23:59:00Z",
            "states": [s["id"] for s in self.states], "moves": [m["id"] for m in self.moves],
        }
        s, g = self.session_id, self.game_id
        self.objects = {f"/api/game/{s}/{g}": self.game, f"/api/session/{s}": self.session}
        self.objects.update({f"/api/user/{u['id']}": u for u in users})
        self.objects.update({f"/api/state/{s}/{g}/{x['id']}": x for x in self.states})
        self.objects.update({f"/api/move/{s}/{g}/{x['id']}": x for x in self.moves})

        self.requests = []  # (path, {lower-case header: value})
        self._lock = threading.Lock()
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with stub._lock:
                    stub.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                if self.path == f"/api/game/{stub.session_id}/{stub.fail_game_id}":
                    self._reply(500, {"error": "internal error (stubbed)"})
                elif self.path in stub.objects:
                    self._reply(200, stub.objects[self.path])
                else:
                    self._reply(404, {"error": "not found"})

            def _reply(self, status, obj):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host_port = "127.0.0.1:%d" % self.server.server_address[1]
        self.base_url = "http://" + self.host_port
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def expected_record(self):
        record = dict(self.game)
        record.update(session=self.session, users=self.users, states=self.states, moves=self.moves)
        return record

    def requests_since(self, index):
        with self._lock:
            return list(self.requests[index:])

    def request_count(self):
        with self._lock:
            return len(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------
# Invocations
# ---------------------------------------------------------------------------

class Invocation:
    def __init__(self, trace_id, parent_id, proc):
        self.trace_id = trace_id
        self.parent_id = parent_id
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.result = None
        if proc.returncode == 0:
            try:
                self.result = json.loads(proc.stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                self.result = None

    def describe(self):
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"

    def expect_success(self):
        check(self.returncode == 0 and self.result is not None,
              "invocation failed: " + self.describe())
        return self.result


def new_trace_header():
    root = "1-%08x-%s" % (int(time.time()), secrets.token_hex(12))
    parent = secrets.token_hex(8)
    return root, parent, f"Root={root};Parent={parent};Sampled=1"


def lambda_env(task_root, function_name, runtime, extra):
    # Start from this process's environment without anything AWS- or path-related
    # that could leak into the "Lambda" (profiles, a PYTHONPATH with boto3, ...).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "_X_AMZN", "LAMBDA_", "PYTHON", "NODE_"))}
    env.update({
        "LAMBDA_TASK_ROOT": task_root,
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_EXECUTION_ENV": "AWS_Lambda_" + runtime,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "TZ": "UTC",
    })
    env.update(extra)
    return env


# ---------------------------------------------------------------------------
# The test run
# ---------------------------------------------------------------------------

class E2E:
    def __init__(self, args):
        self.args = args
        self.run_id = secrets.token_hex(4)
        session = boto3.session.Session(aws_access_key_id="testing",
                                        aws_secret_access_key="testing", region_name=REGION)
        self.sns = session.client("sns", endpoint_url=args.endpoint)
        self.sqs = session.client("sqs", endpoint_url=args.endpoint)
        self.s3 = session.client("s3", endpoint_url=args.endpoint)
        self.xray = XRayCollector()
        self.stub = ScorekeepStub(self.run_id)
        self._cache = {}

    def close(self):
        self.xray.close()
        self.stub.close()

    # -- resources ---------------------------------------------------------

    def name(self, what):
        return f"scorekeep-e2e-{self.run_id}-{what}"

    def make_queue(self, what, **attributes):
        url = self.sqs.create_queue(QueueName=self.name(what),
                                    Attributes={k: str(v) for k, v in attributes.items()})["QueueUrl"]
        return url

    def queue_counts(self, url):
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (int(attrs["ApproximateNumberOfMessages"]),
                int(attrs["ApproximateNumberOfMessagesNotVisible"]))

    def setup(self):
        self.topic_arn = self.sns.create_topic(Name=self.name("topic"))["TopicArn"]
        self.notify_queue = self.make_queue("notifications")
        notify_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.notify_queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=notify_arn)
        self.buckets = {k: self.name(k) for k in ("games", "mixed")}
        for bucket in self.buckets.values():
            self.s3.create_bucket(Bucket=bucket)
        self.worker_queues = {
            k: self.make_queue("worker-" + k, VisibilityTimeout=WORKER_VISIBILITY_TIMEOUT)
            for k in ("good", "empty", "mixed")
        }

    def receive_notifications(self, wait=8.0):
        deadline = time.monotonic() + wait
        while True:
            msgs = self.sqs.receive_message(QueueUrl=self.notify_queue, MaxNumberOfMessages=10,
                                            WaitTimeSeconds=1).get("Messages", [])
            for m in msgs:
                self.sqs.delete_message(QueueUrl=self.notify_queue, ReceiptHandle=m["ReceiptHandle"])
            if msgs or time.monotonic() > deadline:
                return [json.loads(m["Body"]) for m in msgs]

    def work_order(self, bucket, game_id=None, endpoint=None):
        return json.dumps({"endpoint": endpoint or self.stub.host_port,
                           "gameid": game_id or self.stub.game_id,
                           "sessionid": self.stub.session_id, "bucketname": bucket})

    # -- invocations -------------------------------------------------------

    def invoke(self, runtime, event, extra_env):
        root, parent, header = new_trace_header()
        extra = dict(extra_env, _X_AMZN_TRACE_ID=header,
                     AWS_XRAY_DAEMON_ADDRESS=self.xray.address,
                     AWS_ENDPOINT_URL=self.args.endpoint)
        if runtime == "node":
            task_root = os.path.abspath(self.args.node_task_root)
            cmd = [self.args.node, os.path.join(HERE, "invoke_node.js"), task_root, "index.handler"]
            env = lambda_env(task_root, "random-name", "nodejs22.x", extra)
        else:
            task_root = os.path.abspath(self.args.python_task_root)
            cmd = [self.args.python, os.path.join(HERE, "invoke_python.py"), task_root,
                   "lambda_function.lambda_handler"]
            env = lambda_env(task_root, "scorekeep-worker", "python3.13", extra)
        proc = subprocess.run(cmd + [json.dumps(event)], cwd=task_root, env=env, text=True,
                              capture_output=True, timeout=INVOKE_TIMEOUT)
        return Invocation(root, parent, proc)

    def invoke_random_name(self, event):
        return self.invoke("node", event, {"TOPIC_ARN": self.topic_arn})

    def invoke_worker(self, queue_url):
        return self.invoke("python", {"source": "aws.events", "detail-type": "Scheduled Event"},
                           {"WORKER_QUEUE": queue_url})

    def cached(self, key, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    # -- scenarios ---------------------------------------------------------

    def random_name_invocation(self):
        def run():
            user = "USR" + self.run_id.upper()
            inv = self.invoke_random_name({"userid": user})
            inv.user = user
            inv.notifications = self.receive_notifications() if inv.returncode == 0 else []
            return inv
        return self.cached("random-name", run)

    def scenario_random_name_publishes(self):
        inv = self.random_name_invocation()
        result = inv.expect_success()
        name = result.get("name") if isinstance(result, dict) else None
        check(isinstance(name, str) and name, f"expected {{'name': ...}}, got {result!r}")
        check(len(inv.notifications) == 1,
              f"expected 1 SNS notification on the subscribed queue, got {inv.notifications!r}")
        note = inv.notifications[0]
        check(note.get("TopicArn") == self.topic_arn, f"notification from wrong topic: {note!r}")
        for field in ("Subject", "Message"):
            text = note.get(field) or ""
            check(inv.user in text and name in text,
                  f"SNS {field} {text!r} does not name user {inv.user} and name {name}")
        return f"name={name!r}, SNS subject {note['Subject']!r}"

    def scenario_random_name_xray(self):
        inv = self.random_name_invocation()
        name = inv.expect_success()["name"]

        def complete(docs):
            return find_subsegments(docs, "annotations") and find_subsegments(docs, "SNS", "Publish")

        docs = self.xray.wait_for(inv.trace_id, complete)
        check(not self.xray.malformed, f"malformed X-Ray datagrams: {self.xray.malformed[:3]!r}")
        check(docs, f"no X-Ray documents for trace {inv.trace_id}; stderr:\n{inv.stderr}")
        annotations = find_subsegments(docs, "annotations")
        check(len(annotations) == 1, f"expected one 'annotations' subsegment, got {docs!r}")
        ann = annotations[0]
        check(ann.get("annotations") == {"Name": name, "UserID": inv.user},
              f"annotations subsegment has {ann.get('annotations')!r}")
        publish = find_subsegments(docs, "SNS", "Publish", namespace="aws")
        check(len(publish) == 1, f"expected one SNS Publish subsegment (namespace aws), got {docs!r}")
        for doc in (ann, publish[0]):
            check(doc.get("type") == "subsegment" and doc.get("parent_id") == inv.parent_id,
                  f"subsegment not attached to the Lambda facade segment {inv.parent_id}: {doc!r}")
            check(doc.get("end_time") and not doc.get("in_progress"), f"subsegment not closed: {doc!r}")
        check(not publish[0].get("fault") and not publish[0].get("error"),
              f"SNS Publish subsegment records an error: {publish[0]!r}")
        return f"{len(docs)} X-Ray documents: annotations Name={name!r} UserID={inv.user!r}, SNS Publish"

    def scenario_random_name_missing_userid(self):
        inv = self.invoke_random_name({"user": "typo"})
        check(inv.returncode != 0, "invocation without userid succeeded: " + inv.describe())
        check("userid" in inv.stderr and "random-name" in inv.stderr,
              "error does not name the missing userid: " + inv.describe())
        check(not self.receive_notifications(wait=1.0), "an SNS notification was published anyway")
        docs = self.xray.wait_for(inv.trace_id, lambda d: False, timeout=0.5)
        check(not find_subsegments(docs, "SNS"), f"an SNS call was traced anyway: {docs!r}")
        return "fails with a clear error, nothing published"

    def worker_good_invocation(self):
        def run():
            queue = self.worker_queues["good"]
            before = datetime.datetime.now(datetime.timezone.utc).date()
            # "host:port" without a scheme, as the original Scorekeep API sends it.
            self.sqs.send_message(QueueUrl=queue, MessageBody=self.work_order(self.buckets["games"]))
            after = datetime.datetime.now(datetime.timezone.utc).date()
            first_request = self.stub.request_count()
            inv = self.invoke_worker(queue)
            inv.dates = {before, after}
            inv.stub_requests = self.stub.requests_since(first_request)
            return inv
        return self.cached("worker-good", run)

    def check_game_object(self, bucket, dates):
        suffix = f"/{self.stub.session_id}/{self.stub.game_id}.json"
        keys = [o["Key"] for o in self.s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        expected_keys = {f"{d:%Y/%m/%d}{suffix}" for d in dates}
        check(len(keys) == 1 and keys[0] in expected_keys,
              f"expected one object at {sorted(expected_keys)}, bucket {bucket} has {keys}")
        obj = self.s3.get_object(Bucket=bucket, Key=keys[0])
        body = obj["Body"].read()
        record = json.loads(body)
        check(obj["ContentType"] == "application/json", f"ContentType is {obj['ContentType']!r}")
        for field in ("users", "states", "moves"):
            check(all(isinstance(x, dict) for x in record.get(field) or [None]),
                  f"{field} not dereferenced: {record.get(field)!r}")
        check(isinstance(record.get("session"), dict), f"session not dereferenced: {record!r}")
        expected = self.stub.expected_record()
        check(record == expected,
              f"stored record differs from the dereferenced game:\n{record!r}\n!=\n{expected!r}")
        check(body == json.dumps(expected, sort_keys=True).encode(), "body is not sorted-key JSON")
        return keys[0]

    def scenario_worker_writes_game(self):
        inv = self.worker_good_invocation()
        result = inv.expect_success()
        check(result == {"processed": 1, "failed": 0}, f"worker returned {result!r}")
        key = self.check_game_object(self.buckets["games"], inv.dates)
        counts = self.queue_counts(self.worker_queues["good"])
        check(counts == (0, 0), f"message still on the queue (visible, in flight) = {counts}")
        return f"wrote s3://{self.buckets['games']}/{key}, message deleted"

    def scenario_worker_xray(self):
        inv = self.worker_good_invocation()
        inv.expect_success()
        paths = set(self.stub.objects)
        urls = {self.stub.base_url + p for p in paths}

        def http_urls(docs):
            return {(d.get("http") or {}).get("request", {}).get("url")
                    for d in find_subsegments(docs, namespace="remote")}

        def complete(docs):
            return (urls <= http_urls(docs)
                    and find_subsegments(docs, "sqs", "DeleteMessage")
                    and find_subsegments(docs, "s3", "PutObject"))

        docs = self.xray.wait_for(inv.trace_id, complete)
        check(not self.xray.malformed, f"malformed X-Ray datagrams: {self.xray.malformed[:3]!r}")
        check(docs, f"no X-Ray documents for trace {inv.trace_id}; stderr:\n{inv.stderr}")
        for service, operation in [("sqs", "ReceiveMessage"), ("s3", "PutObject"),
                                   ("sqs", "DeleteMessage")]:
            found = find_subsegments(docs, service, operation, namespace="aws")
            check(len(found) == 1, f"expected one {service} {operation} subsegment, got {len(found)}: "
                                   f"{[(d.get('name'), d.get('aws')) for d in docs]}")
        missing = urls - http_urls(docs)
        check(not missing, f"no HTTP subsegment for {sorted(missing)}")
        for doc in docs:
            check(doc.get("type") == "subsegment" and doc.get("parent_id") == inv.parent_id,
                  f"subsegment not attached to the Lambda facade segment {inv.parent_id}: {doc!r}")

        seen = inv.stub_requests
        check({p for p, _ in seen} == paths,
              f"stub saw {sorted(p for p, _ in seen)}, expected {sorted(paths)}")
        untraced = [p for p, h in seen if f"Root={inv.trace_id}" not in h.get("x-amzn-trace-id", "")]
        check(not untraced, f"requests without an X-Amzn-Trace-Id header of the trace: {untraced}")
        return (f"{len(docs)} X-Ray documents: SQS, S3 and {len(urls)} HTTP subsegments; "
                f"{len(seen)} API requests carried X-Amzn-Trace-Id")

    def scenario_worker_empty_queue(self):
        inv = self.invoke_worker(self.worker_queues["empty"])
        result = inv.expect_success()
        check(result == {"processed": 0, "failed": 0}, f"worker returned {result!r}")
        return "returns processed 0, failed 0"

    def scenario_worker_partial_failure(self):
        queue, bucket = self.worker_queues["mixed"], self.buckets["mixed"]
        sent = {
            "malformed": self.sqs.send_message(QueueUrl=queue, MessageBody='{"gameid": "half a message"'),
            "api-500": self.sqs.send_message(QueueUrl=queue, MessageBody=self.work_order(
                bucket, game_id=self.stub.fail_game_id)),
            # Scheme and trailing slash this time.
            "good": self.sqs.send_message(QueueUrl=queue, MessageBody=self.work_order(
                bucket, endpoint=self.stub.base_url + "/")),
        }
        ids = {k: v["MessageId"] for k, v in sent.items()}
        today = datetime.datetime.now(datetime.timezone.utc).date()
        inv = self.invoke_worker(queue)
        result = inv.expect_success()
        check(result == {"processed": 1, "failed": 2}, f"worker returned {result!r}\n{inv.stderr}")
        self.check_game_object(bucket, {today, datetime.datetime.now(datetime.timezone.utc).date()})
        for what in ("malformed", "api-500"):
            check(ids[what] in inv.stderr, f"the {what} message {ids[what]} is not logged:\n{inv.stderr}")
        visible, in_flight = self.queue_counts(queue)
        check(visible + in_flight == 2, f"expected the 2 failed messages left, queue has "
                                        f"{visible} visible + {in_flight} in flight")
        # The worker leaves failed messages alone: they come back after the visibility timeout.
        left = {}
        deadline = time.monotonic() + WORKER_VISIBILITY_TIMEOUT + 10
        while len(left) < 2 and time.monotonic() < deadline:
            for m in self.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                              WaitTimeSeconds=1).get("Messages", []):
                left[m["MessageId"]] = m
        check(set(left) == {ids["malformed"], ids["api-500"]},
              f"messages left on the queue: {sorted(left)}, expected malformed and api-500 "
              f"{ids['malformed']}, {ids['api-500']}")
        return "good message written; malformed and HTTP 500 messages left on the queue"

    SCENARIOS = [
        ("random-name: returns a name and publishes to SNS", "scenario_random_name_publishes"),
        ("random-name: X-Ray annotations and SNS Publish subsegments", "scenario_random_name_xray"),
        ("random-name: missing userid is a clear error", "scenario_random_name_missing_userid"),
        ("worker: writes the dereferenced game to S3 and deletes the message",
         "scenario_worker_writes_game"),
        ("worker: X-Ray subsegments and trace headers", "scenario_worker_xray"),
        ("worker: empty queue", "scenario_worker_empty_queue"),
        ("worker: failed messages stay queued, good one written", "scenario_worker_partial_failure"),
    ]

    def run(self):
        passed = failed = 0
        for title, method in self.SCENARIOS:
            try:
                detail = getattr(self, method)()
            except Exception as exc:  # report every scenario, then fail the run
                failed += 1
                kind = "" if isinstance(exc, Failure) else f"{type(exc).__name__}: "
                print(f"FAIL {title}: {kind}{exc}", flush=True)
            else:
                passed += 1
                print(f"PASS {title} ({detail})", flush=True)
        return passed, failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="moto server URL")
    parser.add_argument("--node-task-root", required=True)
    parser.add_argument("--python-task-root", required=True)
    parser.add_argument("--python", default=sys.executable, help="interpreter for the worker")
    parser.add_argument("--node", default="node", help="node binary for random-name")
    args = parser.parse_args()

    for label, root, entry in [("node", args.node_task_root, "index.js"),
                               ("python", args.python_task_root, "lambda_function.py")]:
        if not os.path.isfile(os.path.join(root, entry)):
            sys.exit(f"e2e: --{label}-task-root {root} has no {entry}")

    e2e = E2E(args)
    try:
        try:
            e2e.setup()
        except Exception as exc:
            print(f"FAIL setup against {args.endpoint}: {type(exc).__name__}: {exc}", flush=True)
            passed, failed = 0, len(E2E.SCENARIOS)
        else:
            passed, failed = e2e.run()
    finally:
        e2e.close()
    print(f"e2e: {passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
