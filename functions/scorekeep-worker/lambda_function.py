"""Scorekeep worker Lambda function (runtime python3.13, handler lambda_function.lambda_handler).

Turns "game ended" messages of the SQS queue WORKER_QUEUE (message body: JSON with endpoint,
gameid, sessionid, bucketname) into game records: it fetches the game and everything it
refers to (session, users, states, moves) from the Scorekeep API and writes the assembled
record to S3 at ``YYYY/MM/DD/{sessionid}/{gameid}.json`` (UTC date of the message's
SentTimestamp). Two triggers:

- an SQS event (the queue's event source mapping): the event's records are processed and the
  handler returns ``{"batchItemFailures": [{"itemIdentifier": MessageId}, ...]}`` for those
  that failed (ReportBatchItemFailures), so Lambda deletes the others and only the failed
  ones come back;
- a schedule (any other event): the handler drains the queue itself, batch after batch of
  up to 10 (long polling after the first), until a batch is not full or the invocation's
  time nears its end, deleting each message once its record is written, and returns
  ``{"processed": n, "failed": m}``.

A message that is malformed or whose API calls fail is logged (MessageId and reason) and left
on the queue: it becomes visible again when the visibility timeout expires, so the queue's
redrive policy applies as usual. Each message is processed in a span (subsegment) of its own,
marked as failed with the exception when it fails.

Environment:
  WORKER_QUEUE          SQS queue URL (required)
  API_TIMEOUT_SECONDS   timeout of each Scorekeep API request, default 5
  AWS_REGION, AWS_ENDPOINT_URL (optional; boto3 honours both here)

Tracing: importing ``tracing`` (X-Ray SDK or OpenTelemetry, chosen by ``tracing_sdk`` when
the function is bundled) instruments boto3 and ``requests``, so their calls are recorded as
subsegments/spans and ``requests`` sends the trace header (X-Amzn-Trace-Id; with OpenTelemetry
also traceparent). If the SDK or requests cannot be imported (only possible in a bare
unit-test environment; the bundle ships both), the pure functions below still work and the
handler refuses to run.
"""

import datetime
import json
import logging
import os
import urllib.parse

logger = logging.getLogger("scorekeep-worker")
logger.setLevel(logging.INFO)

try:
    import requests
    import tracing
except ImportError as exc:  # pragma: no cover - depends on the environment
    requests = None
    tracing = None
    _IMPORT_ERROR = exc
else:
    _IMPORT_ERROR = None

MAX_MESSAGES = 10
# After a full batch the next receive long-polls for 1 s (SQS asks all its servers and
# answers as soon as there are messages); the first does not, so a run on an empty queue
# costs no waiting. A batch smaller than MAX_MESSAGES ends the drain.
WAIT_SECONDS = 1
# A drain stops receiving when less time than this is left: a quarter of the invocation's
# time, at most 15 s, for the last batch.
MAX_RESERVE_SECONDS = 15.0
DEFAULT_API_TIMEOUT_SECONDS = 5.0
MESSAGE_FIELDS = ("endpoint", "gameid", "sessionid", "bucketname")


class MessageError(Exception):
    """A message that cannot be processed now; it stays on the queue."""


# ---------------------------------------------------------------------------
# Pure logic (no AWS, no network).
# ---------------------------------------------------------------------------

def normalize_endpoint(endpoint):
    """Return the API base URL: "host:port" gets http://, a trailing "/" goes."""
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise MessageError("endpoint must be a non-empty string")
    endpoint = endpoint.strip()
    if "://" not in endpoint:
        endpoint = "http://" + endpoint
    parts = urllib.parse.urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise MessageError(f"endpoint {endpoint!r} is not an http(s) URL or host:port")
    return endpoint.rstrip("/")


def _check_id(field, value):
    # Ids become URL path segments and S3 key segments.
    if not isinstance(value, str) or not value or "/" in value or not value.isprintable():
        raise MessageError(f"{field} must be a non-empty string without '/'")
    return value


def parse_message(message):
    """Extract the work order from an SQS message (as returned by ReceiveMessage).

    Returns a dict with endpoint (normalized), gameid, sessionid, bucketname and
    sent_timestamp (epoch milliseconds, int). Raises MessageError if malformed.
    """
    try:
        body = json.loads(message["Body"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MessageError(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise MessageError("body is not a JSON object")
    missing = [f for f in MESSAGE_FIELDS if f not in body]
    if missing:
        raise MessageError("body lacks " + ", ".join(missing))

    sent = (message.get("Attributes") or {}).get("SentTimestamp")
    try:
        sent_timestamp = int(sent)
    except (TypeError, ValueError):
        raise MessageError(f"SentTimestamp attribute missing or invalid: {sent!r}") from None

    bucket = body["bucketname"]
    if not isinstance(bucket, str) or not bucket:
        raise MessageError("bucketname must be a non-empty string")
    return {
        "endpoint": normalize_endpoint(body["endpoint"]),
        "gameid": _check_id("gameid", body["gameid"]),
        "sessionid": _check_id("sessionid", body["sessionid"]),
        "bucketname": bucket,
        "sent_timestamp": sent_timestamp,
    }


def object_key(sent_timestamp_ms, sessionid, gameid):
    """S3 key YYYY/MM/DD/{session}/{game}.json, dated by the UTC day of the timestamp."""
    sent = datetime.datetime.fromtimestamp(sent_timestamp_ms // 1000, tz=datetime.timezone.utc)
    return f"{sent:%Y/%m/%d}/{sessionid}/{gameid}.json"


def _id_list(game, field):
    ids = game.get(field)
    if ids is None:  # the API may leave out an empty set
        return []
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise MessageError(f"game field {field!r} is not a list of ids")
    return ids


def assemble_record(game, session, users, states, moves):
    """The game with its references replaced by the objects they name."""
    record = dict(game)
    record["session"] = session
    record["users"] = list(users)
    record["states"] = list(states)
    record["moves"] = list(moves)
    return record


def fetch_record(get_json, endpoint, sessionid, gameid):
    """Fetch the game and everything it refers to; get_json(url) returns parsed JSON."""
    def url(*segments):
        return endpoint + "/api/" + "/".join(urllib.parse.quote(s, safe="") for s in segments)

    game = get_json(url("game", sessionid, gameid))
    if not isinstance(game, dict):
        raise MessageError("API returned a game that is not a JSON object")
    user_ids = _id_list(game, "users")
    state_ids = _id_list(game, "states")
    move_ids = _id_list(game, "moves")

    session = get_json(url("session", sessionid))
    users = [get_json(url("user", uid)) for uid in user_ids]
    states = [get_json(url("state", sessionid, gameid, sid)) for sid in state_ids]
    moves = [get_json(url("move", sessionid, gameid, mid)) for mid in move_ids]
    return assemble_record(game, session, users, states, moves)


def api_timeout(env=os.environ):
    raw = env.get("API_TIMEOUT_SECONDS")
    if raw in (None, ""):
        return DEFAULT_API_TIMEOUT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = 0
    if not value > 0:
        raise ValueError(f"API_TIMEOUT_SECONDS must be a positive number, got {raw!r}")
    return value


# ---------------------------------------------------------------------------
# Queue processing (clients injected, so unit tests can use fakes).
# ---------------------------------------------------------------------------

def process_message(message, s3, get_json):
    """Fetch, assemble and write one message's record; returns the S3 key."""
    order = parse_message(message)
    record = fetch_record(get_json, order["endpoint"], order["sessionid"], order["gameid"])
    key = object_key(order["sent_timestamp"], order["sessionid"], order["gameid"])
    s3.put_object(
        Bucket=order["bucketname"],
        Key=key,
        Body=json.dumps(record, sort_keys=True).encode("utf-8"),
        ContentType="application/json",
    )
    return key


def _traced(message):
    """The message's span (subsegment), or nothing when no tracing SDK is importable."""
    if tracing is None:
        import contextlib

        return contextlib.nullcontext()
    trace_header = (message.get("Attributes") or {}).get("AWSTraceHeader")
    return tracing.message(message.get("MessageId", "?"), trace_header)


def process_one(message, s3, get_json):
    """Process one message in its span; the S3 key written, or None when it failed (logged)."""
    message_id = message.get("MessageId", "?")
    try:
        with _traced(message):
            key = process_message(message, s3, get_json)
    except MessageError as exc:
        logger.warning("message %s left on the queue: %s", message_id, exc)
        return None
    except Exception:  # e.g. S3 refused the write; keep going with the others
        logger.exception("message %s left on the queue: unexpected error", message_id)
        return None
    logger.info("message %s: wrote %s", message_id, key)
    return key


def process_queue(sqs, s3, queue_url, get_json, seconds_left=None):
    """Drain the queue: receive batches until one is not full or less than the reserve of
    time is left (``seconds_left()``; None: no limit); each message processed on its own,
    deleted once its record is written."""
    reserve = None
    if seconds_left is not None:
        reserve = min(MAX_RESERVE_SECONDS, seconds_left() / 4)
    processed = failed = 0
    wait = 0
    while reserve is None or seconds_left() > reserve:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=MAX_MESSAGES,
            AttributeNames=["SentTimestamp", "AWSTraceHeader"],
            WaitTimeSeconds=wait,
        )
        messages = response.get("Messages") or []
        for message in messages:
            if process_one(message, s3, get_json) is None or not _delete(sqs, queue_url, message):
                failed += 1
            else:
                processed += 1
        if len(messages) < MAX_MESSAGES:
            break
        wait = WAIT_SECONDS
    return {"processed": processed, "failed": failed}


def _delete(sqs, queue_url, message):
    try:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    except Exception:
        # The record is written; the message will be processed again later, which only
        # rewrites the same object.
        logger.exception("message %s: written but could not be deleted", message.get("MessageId", "?"))
        return False
    return True


def is_sqs_event(event):
    records = event.get("Records") if isinstance(event, dict) else None
    return bool(records) and all(r.get("eventSource") == "aws:sqs" for r in records)


def as_message(record):
    """An SQS event record in ReceiveMessage's shape."""
    attributes = record.get("attributes") or {}
    return {
        "MessageId": record.get("messageId", "?"),
        "ReceiptHandle": record.get("receiptHandle"),
        "Body": record.get("body", ""),
        "Attributes": {k: v for k, v in attributes.items() if k in ("SentTimestamp", "AWSTraceHeader")},
    }


def process_records(records, s3, get_json):
    """An SQS event's records; the failed ones as ReportBatchItemFailures wants them (Lambda
    deletes the rest)."""
    failures = []
    for record in records:
        message = as_message(record)
        if process_one(message, s3, get_json) is None:
            failures.append({"itemIdentifier": message["MessageId"]})
    logger.info("processed %d record(s), %d failed", len(records) - len(failures), len(failures))
    return {"batchItemFailures": failures}


# ---------------------------------------------------------------------------
# Lambda wiring.
# ---------------------------------------------------------------------------

_clients = {}


def _client(service):
    """boto3 client created once per execution environment (reused while warm).

    Endpoint (AWS_ENDPOINT_URL) and credentials come from the environment; the region
    from AWS_REGION, which botocore itself does not read (only AWS_DEFAULT_REGION).
    """
    if service not in _clients:
        import boto3  # provided by the Lambda runtime

        _clients[service] = boto3.client(service, region_name=os.environ.get("AWS_REGION") or None)
    return _clients[service]


def make_get_json(session, timeout):
    """get_json(url) over a requests session; API failures become MessageError."""
    def get_json(url):
        try:
            response = session.get(url, timeout=timeout)
        except requests.RequestException as exc:
            raise MessageError(f"GET {url} failed: {exc}") from None
        if not 200 <= response.status_code < 300:
            raise MessageError(f"GET {url} returned HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise MessageError(f"GET {url} returned invalid JSON") from None
    return get_json


def lambda_handler(event, context):
    if _IMPORT_ERROR is not None:
        raise RuntimeError(f"scorekeep-worker dependencies are not installed: {_IMPORT_ERROR}")
    timeout = api_timeout()
    with tracing.invocation(context), requests.Session() as http:
        get_json = make_get_json(http, timeout)
        if is_sqs_event(event):
            return process_records(event["Records"], _client("s3"), get_json)
        queue_url = os.environ.get("WORKER_QUEUE")
        if not queue_url:
            raise RuntimeError("scorekeep-worker: environment variable WORKER_QUEUE is not set")
        seconds_left = None
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            seconds_left = lambda: context.get_remaining_time_in_millis() / 1000.0  # noqa: E731
        result = process_queue(_client("sqs"), _client("s3"), queue_url, get_json, seconds_left)
    logger.info("processed %(processed)d message(s), %(failed)d failed", result)
    return result
