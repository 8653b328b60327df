// The TypeScript SDK client (@modelcontextprotocol/sdk 1.32.2) as a differential-suite driver.
//
//   node tests/differential/ts_client.mjs '<script JSON>'
//
// The script: {"target": {"url": "..."} | {"command": "...", "args": [...], "env": {...}},
//              "tool": name, "arguments": {...}, "resource": uri | null,
//              "prompt": name | null, "promptArguments": {...}}
// (names already exposed as the target shows them). It lists the tools (every page), calls the
// tool, reads the resource, gets the prompt, and prints one JSON object: each answer, or
// {"error": {"code", "message"}} for a JSON-RPC error.
const SDK = new URL("../../tools/mcp-js/node_modules/@modelcontextprotocol/sdk/dist/esm/", import.meta.url);
const sdk = (path) => import(new URL(path, SDK).href);
const { Client } = await sdk("client/index.js");
const { StdioClientTransport } = await sdk("client/stdio.js");
const { StreamableHTTPClientTransport } = await sdk("client/streamableHttp.js");

const script = JSON.parse(process.argv[2]);

async function outcome(promise) {
  try {
    return await promise;
  } catch (error) {
    return { error: { code: error.code ?? null, message: String(error.message) } };
  }
}

async function listTools(client) {
  const tools = [];
  let cursor;
  for (let page = 0; page < 50; page++) {
    const result = await client.listTools(cursor ? { cursor } : undefined);
    tools.push(...result.tools);
    cursor = result.nextCursor;
    if (!cursor) return tools;
  }
  throw new Error("tools/list did not end within 50 pages");
}

const target = script.target;
const transport = target.url
  ? new StreamableHTTPClientTransport(new URL(target.url))
  : new StdioClientTransport({ command: target.command, args: target.args, env: target.env, stderr: "ignore" });
const client = new Client({ name: "differential-ts-client", version: "1.0.0" }, { capabilities: {} });
await client.connect(transport);
const answer = {
  tools: await outcome(listTools(client)),
  call: await outcome(client.callTool({ name: script.tool, arguments: script.arguments })),
};
if (script.resource) answer.resource = await outcome(client.readResource({ uri: script.resource }));
if (script.prompt) {
  answer.prompt = await outcome(client.getPrompt({ name: script.prompt, arguments: script.promptArguments }));
}
process.stdout.write(JSON.stringify(answer) + "\n");
await client.close();
process.exit(0);
