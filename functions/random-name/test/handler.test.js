'use strict';
// Unit tests for the random-name function. Run (needs `npm ci` in functions/random-name):
//   node --test functions/random-name/test/
// No AWS access: the SNS client and the name picker are fakes.

// These tests use the X-Ray SDK outside Lambda mode; it picks its mode at require time.
delete process.env.LAMBDA_TASK_ROOT;
process.env.AWS_XRAY_CONTEXT_MISSING = 'IGNORE_ERROR';

const test = require('node:test');
const assert = require('node:assert/strict');
const AWSXRay = require('aws-xray-sdk-core');
const { PublishCommand } = require('@aws-sdk/client-sns');

const { createHandler, handler } = require('..');

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:scorekeep-notifications';

function fakeSns({ fail } = {}) {
  const sent = [];
  return {
    sent,
    async send(command) {
      sent.push(command);
      if (fail) throw fail;
      return { MessageId: 'msg-1', $metadata: { httpStatusCode: 200 } };
    },
  };
}

const fixedName = (name) => ({ first: () => name });

// Records what the handler does through ./tracing's annotate.
function fakeTracing() {
  const captured = [];
  return {
    captured,
    annotate(name, annotations) {
      captured.push({ name, annotations: { ...annotations } });
    },
  };
}

test('returns the picked name and publishes a notification naming the user', async () => {
  const sns = fakeSns();
  const tracing = fakeTracing();
  const h = createHandler({ sns, chance: fixedName('Ada'), tracing, env: { TOPIC_ARN: TOPIC } });

  const result = await h({ userid: 'USER1234' });

  assert.deepEqual(result, { name: 'Ada' });
  assert.equal(sns.sent.length, 1);
  const command = sns.sent[0];
  assert.ok(command instanceof PublishCommand);
  assert.equal(command.input.TopicArn, TOPIC);
  assert.match(command.input.Subject, /USER1234/);
  assert.match(command.input.Subject, /Ada/);
  assert.match(command.input.Message, /USER1234/);
  assert.match(command.input.Message, /Ada/);
});

test('a dry run (the pipeline smoke test) publishes nothing', async () => {
  const sns = fakeSns();
  const h = createHandler({ sns, chance: fixedName('Ada'), tracing: fakeTracing(), env: { TOPIC_ARN: TOPIC } });

  const result = await h({ userid: 'ci-smoke', dry_run: true });

  assert.deepEqual(result, { name: 'Ada', dry_run: true });
  assert.equal(sns.sent.length, 0);
  // Only a boolean true is a dry run: anything else publishes as before.
  await h({ userid: 'ci-smoke', dry_run: 'yes' });
  assert.equal(sns.sent.length, 1);
});

test('records an "annotations" subsegment with Name and UserID', async () => {
  const tracing = fakeTracing();
  const h = createHandler({ sns: fakeSns(), chance: fixedName('Grace'), tracing, env: { TOPIC_ARN: TOPIC } });

  await h({ userid: 'U42' });

  assert.equal(tracing.captured.length, 1);
  assert.equal(tracing.captured[0].name, 'annotations');
  assert.deepEqual(tracing.captured[0].annotations, { Name: 'Grace', UserID: 'U42' });
});

test('with the real X-Ray SDK the annotations subsegment hangs off the current segment', async () => {
  const segment = new AWSXRay.Segment('unit-test');
  const ns = AWSXRay.getNamespace();
  const h = createHandler({ sns: fakeSns(), chance: fixedName('Alan'), env: { TOPIC_ARN: TOPIC } });

  const result = await ns.runAndReturn(() => {
    AWSXRay.setSegment(segment);
    return h({ userid: 'U7' });
  });

  assert.deepEqual(result, { name: 'Alan' });
  const sub = segment.subsegments.find((s) => s.name === 'annotations');
  assert.ok(sub, 'annotations subsegment recorded');
  assert.deepEqual(sub.annotations, { Name: 'Alan', UserID: 'U7' });
  assert.ok(sub.isClosed(), 'subsegment closed');
});

test('the name comes from chance by default', async () => {
  const sns = fakeSns();
  const h = createHandler({ sns, tracing: fakeTracing(), env: { TOPIC_ARN: TOPIC } });
  const { name } = await h({ userid: 'U1' });
  assert.equal(typeof name, 'string');
  assert.ok(name.length > 0);
});

test('a missing TOPIC_ARN fails before any AWS call', async () => {
  const sns = fakeSns();
  const h = createHandler({ sns, chance: fixedName('Ada'), tracing: fakeTracing(), env: {} });
  await assert.rejects(h({ userid: 'U1' }), /TOPIC_ARN/);
  assert.equal(sns.sent.length, 0);
});

test('a missing userid fails before any AWS call', async () => {
  for (const event of [{}, { userid: '' }, { userid: null }, null, undefined]) {
    const sns = fakeSns();
    const tracing = fakeTracing();
    const h = createHandler({ sns, chance: fixedName('Ada'), tracing, env: { TOPIC_ARN: TOPIC } });
    await assert.rejects(h(event), /userid/, `event ${JSON.stringify(event)}`);
    assert.equal(sns.sent.length, 0);
    assert.equal(tracing.captured.length, 0);
  }
});

test('a publish failure fails the invocation and is logged', async (t) => {
  const boom = new Error('AuthorizationError: not allowed');
  const logged = [];
  t.mock.method(console, 'error', (...args) => logged.push(args));
  const h = createHandler({
    sns: fakeSns({ fail: boom }), chance: fixedName('Ada'), tracing: fakeTracing(), env: { TOPIC_ARN: TOPIC },
  });

  await assert.rejects(h({ userid: 'U1' }), (err) => err === boom);
  assert.equal(logged.length, 1);
  assert.ok(logged[0].includes(boom), 'the error itself is logged');
});

test('an SNS client factory is called lazily, on invocation', async () => {
  let created = 0;
  const sns = fakeSns();
  const h = createHandler({
    sns: () => { created += 1; return sns; },
    chance: fixedName('Ada'), tracing: fakeTracing(), env: { TOPIC_ARN: TOPIC },
  });
  assert.equal(created, 0);
  await h({ userid: 'U1' });
  assert.equal(created, 1);
});

test('the subject stays within SNS limits', async () => {
  const sns = fakeSns();
  const h = createHandler({ sns, chance: fixedName('Ada'), tracing: fakeTracing(), env: { TOPIC_ARN: TOPIC } });
  await h({ userid: 'X'.repeat(300) + '\nü' });
  const subject = sns.sent[0].input.Subject;
  assert.ok(subject.length <= 100, `subject length ${subject.length}`);
  assert.match(subject, /^[\x20-\x7e]+$/);
});

test('exports a ready-made handler', () => {
  assert.equal(typeof handler, 'function');
});
