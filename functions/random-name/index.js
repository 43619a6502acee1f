'use strict';
/**
 * Scorekeep "random-name" Lambda function (runtime nodejs22.x, handler index.handler).
 *
 * The Scorekeep API invokes it with {"userid": "..."}. It picks a random first
 * name, records it in an X-Ray subsegment named "annotations" (annotations Name
 * and UserID), publishes a notification to the SNS topic TOPIC_ARN and returns
 * {"name": "..."}.
 *
 * Environment: TOPIC_ARN (required), AWS_REGION, AWS_ENDPOINT_URL (optional;
 * AWS SDK v3 honours it natively), plus the usual Lambda/X-Ray variables.
 */

// aws-xray-sdk-core switches to Lambda mode at require time when LAMBDA_TASK_ROOT
// is set: it builds a facade segment from _X_AMZN_TRACE_ID and sends every
// subsegment to the daemon (AWS_XRAY_DAEMON_ADDRESS) as soon as it closes.
const AWSXRay = require('aws-xray-sdk-core');
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
    defaultSnsClient = AWSXRay.captureAWSv3Client(new SNSClient({}));
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
 *  - xray: an object with captureFunc(name, fn) (the X-Ray SDK);
 *  - env: where TOPIC_ARN is read from (read on every invocation).
 */
function createHandler({
  sns = defaultSns,
  chance = new Chance(),
  xray = AWSXRay,
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

    xray.captureFunc('annotations', (subsegment) => {
      // subsegment is undefined only when the SDK has no segment to attach to
      // (it has already logged that); the name is still returned.
      if (subsegment) {
        subsegment.addAnnotation('Name', name);
        subsegment.addAnnotation('UserID', user);
      }
    });

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
  handler: createHandler(),
};
