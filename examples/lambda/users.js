// POST /users: stores a user in the table named by TABLE_NAME and answers 201 with it.
//
// The body is JSON with a name and an email; userId is generated unless given. A userId
// that exists already answers 409 rather than overwriting the user. The AWS SDK finds the
// table's endpoint, region and credentials in the environment Lambda (or Meridian) gives
// the function.
const { randomUUID } = require('node:crypto');
const { DynamoDBClient } = require('@aws-sdk/client-dynamodb');
const { DynamoDBDocumentClient, PutCommand } = require('@aws-sdk/lib-dynamodb');

const client = DynamoDBDocumentClient.from(new DynamoDBClient({}));

const reply = (statusCode, body) => ({
  statusCode,
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify(body),
});

exports.create = async (event) => {
  let input;
  try {
    input = JSON.parse(event.body || '{}');
  } catch (e) {
    return reply(400, { error: 'BadRequest', message: `the body is not JSON: ${e.message}` });
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return reply(400, { error: 'BadRequest', message: 'the body must be a JSON object' });
  }
  for (const field of ['name', 'email']) {
    if (typeof input[field] !== 'string' || input[field].length === 0) {
      return reply(400, { error: 'BadRequest', message: `${field} is required (a string)` });
    }
  }
  const user = {
    ...input,
    userId: typeof input.userId === 'string' && input.userId ? input.userId : randomUUID(),
    createdAt: new Date().toISOString(),
  };
  try {
    await client.send(new PutCommand({
      TableName: process.env.TABLE_NAME,
      Item: user,
      ConditionExpression: 'attribute_not_exists(userId)',
    }));
  } catch (e) {
    if (e.name === 'ConditionalCheckFailedException') {
      return reply(409, { error: 'Conflict', message: `user ${user.userId} exists` });
    }
    console.error(`PutItem on ${process.env.TABLE_NAME} failed: ${e.name}: ${e.message}`);
    return reply(500, { error: e.name, message: e.message });
  }
  return reply(201, user);
};
