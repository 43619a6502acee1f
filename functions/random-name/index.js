'use strict';
/**
 * Scorekeep "random-name" Lambda function (runtime nodejs22.x, handler index.handler).
 *
 * The Scorekeep API invokes it with {"userid": "..."}. It picks a random first
 * name, records it in a subsegment/span named "annotations" (indexed X-Ray annotations
 * Name and UserID), publishes a notification to the SNS topic TOPIC_ARN and returns
 * {"name": "..."}. With "dry_run": true (a release pipeline's smoke test) it does all of
 * that but the publish, so no subscriber is notified, and returns {"name", "dry_run": true}. Tracing goes through ./tracing (X-Ray SDK or OpenTelemetry, chosen by
 * `tracing_sdk` when the function is bundled).
 *
 * Environment: TOPIC_ARN (required), AWS_REGION, AWS_ENDPOINT_URL (optional;
 * AWS SDK v3 honours it natively), plus the usual Lambda/X-Ray variables.
 */

// First: OpenTelemetry's instrumentations hook the AWS SDK as it is loaded.
const tracing = require('./tracing');
const { SNSClient, PublishCommand } = require('@aws-sdk/client-sns');
const Chance = require('chance');

// SNS limits a subject to 100 printable ASCII characters.
const MAX_SUBJECT_LENGTH = 100;

let defaultSnsClient;

/**
 * The module-wide SNS client, created on first use so warm invocations reuse
 * it (and its connections). Region and endpoint come from the environment.
 */
function defaultSns() {
  if (!defaultSnsClient) {
    defaultSnsClient = tracing.captureClient(new SNSClient({}));
  }
  return defaultSnsClient;
}

function subjectFor(userid, name) {
  // Keep the subject within SNS limits even for unexpected user ids.
  const subject = `New user ${userid}: ${name}`.replace(/[^\x20-\x7e]/g, '?');
  return subject.length > MAX_SUBJECT_LENGTH
    ? subject.slice(0, MAX_SUBJECT_LENGTH - 3) + '...'
    : subject;
}

/**
 * Builds a handler. Every dependency can be replaced for unit tests:
 *  - sns: an object with send(command) (an SNSClient), or a function returning one;
 *  - chance: an object with first() that picks the name;
 *  - tracing: an object with annotate(name, annotations) (./tracing);
 *  - env: where TOPIC_ARN is read from (read on every invocation).
 */
function createHandler({
  sns = defaultSns,
  chance = new Chance(),
  tracing: tracer = tracing,
  env = process.env,
} = {}) {
  const getSns = typeof sns === 'function' ? sns : () => sns;

  return async function handler(event) {
    // Validate the inputs before any AWS call so a misconfiguration reads clearly.
    const topicArn = env.TOPIC_ARN;
    if (!topicArn) {
      throw new Error('random-name: environment variable TOPIC_ARN is not set');
    }
    const userid = event == null ? undefined : event.userid;
    if (userid === undefined || userid === null || String(userid) === '') {
      throw new Error('random-name: event.userid is missing');
    }
    const user = String(userid);

    const name = chance.first();

    tracer.annotate('annotations', { Name: name, UserID: user });

    if (event.dry_run === true) {
      return { name, dry_run: true };
    }

    try {
      await getSns().send(new PublishCommand({
        TopicArn: topicArn,
        Subject: subjectFor(user, name),
        Message: `Created random name "${name}" for user "${user}".`,
      }));
    } catch (err) {
      console.error(`random-name: publishing to ${topicArn} for user ${user} failed:`, err);
      throw err;
    }

    return { name };
  };
}

module.exports = {
  createHandler,
  handler: tracing.wrapHandler(createHandler()),
};
