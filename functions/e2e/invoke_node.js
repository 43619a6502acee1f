'use strict';
// Invokes a Node.js Lambda handler the way the runtime would, for the e2e driver.
//   node invoke_node.js TASK_ROOT [HANDLER] [EVENT_JSON]
// HANDLER defaults to index.handler (file.export); EVENT_JSON defaults to stdin.
// Prints the JSON result on stdout; on failure prints the error on stderr and exits 1.
const fs = require('node:fs');
const path = require('node:path');

async function main() {
  const [taskRoot, handlerSpec = 'index.handler', eventArg] = process.argv.slice(2);
  if (!taskRoot) throw new Error('usage: invoke_node.js TASK_ROOT [HANDLER] [EVENT_JSON]');
  const event = JSON.parse(eventArg !== undefined ? eventArg : fs.readFileSync(0, 'utf8') || '{}');

  const dot = handlerSpec.lastIndexOf('.');
  const mod = require(path.resolve(taskRoot, handlerSpec.slice(0, dot)));
  const handler = mod[handlerSpec.slice(dot + 1)];
  if (typeof handler !== 'function') throw new Error(`handler ${handlerSpec} not found in ${taskRoot}`);

  const deadline = Date.now() + 30000;
  const context = {
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME || 'local',
    functionVersion: '$LATEST',
    awsRequestId: require('node:crypto').randomUUID(),
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  return handler(event, context);
}

main().then(
  (result) => {
    process.stdout.write(JSON.stringify(result === undefined ? null : result) + '\n');
  },
  (err) => {
    console.error('invocation failed:', err && err.stack ? err.stack : err);
    process.exitCode = 1;
  },
).finally(() => {
  // Let pending work (the X-Ray SDK's UDP sends) finish: exit naturally, but do
  // not hang forever on a stray handle.
  setTimeout(() => process.exit(), 5000).unref();
});
