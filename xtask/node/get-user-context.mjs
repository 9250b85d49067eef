// The get-user-context function written as the reference migration wrote its
// Node.js functions (AWS SDK v3, client made at init), run on a minimal
// custom runtime loop: the Node.js side of `cargo xtask bench-cold-start --node`.
// It does the Rust function's work: GetItem by key, 404 or the stored body.
import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";

const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime`;
const table = process.env.TABLE_NAME;
const client = new DynamoDBClient({});

async function handle(event) {
  const userId = event.rawPath.split("/")[3];
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(userId)) {
    return reply(400, { error: "invalid_id", message: "userId must be 1 to 64 characters" });
  }
  const got = await client.send(
    new GetItemCommand({ TableName: table, Key: { pk: { S: `user#${userId}` } }, ConsistentRead: true }),
  );
  if (!got.Item) {
    return reply(404, { error: "not_found", message: `no user context is stored for ${userId}` });
  }
  return { statusCode: 200, headers: headers({ etag: `"${got.Item.version.N}"` }), body: got.Item.body.S };
}

function headers(extra = {}) {
  return { "content-type": "application/json", "x-served-by": "serverless", ...extra };
}

function reply(statusCode, body) {
  return { statusCode, headers: headers(), body: JSON.stringify(body) };
}

for (;;) {
  const next = await fetch(`${api}/invocation/next`);
  const id = next.headers.get("lambda-runtime-aws-request-id");
  const response = await handle(await next.json());
  await fetch(`${api}/invocation/${id}/response`, { method: "POST", body: JSON.stringify(response) });
}
