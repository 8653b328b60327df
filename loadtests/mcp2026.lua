-- wrk script: POST one MCP 2026-07-28 (stateless) request per call: no session, no initialize.
--
--   wrk -t1 -c16 -d5s -s loadtests/mcp2026.lua http://127.0.0.1:P/mcp -- \
--       - VERSION METHOD [TOOL] [CAPABILITIES]
--
-- The arguments are mcp.lua's (a drop-in for it, so a harness can run either): the first, the
-- session id there, must be "-" (a 2026 request has no session). VERSION is the revision named in the MCP-Protocol-Version header and in params._meta
-- (2026-07-28). METHOD is tools/call (TOOL is called with {"text":"hello","n":42}) or
-- tools/list. CAPABILITIES is the JSON object sent as _meta clientCapabilities ({} when absent).
-- Every request carries the headers a conforming client sends (MCP-Protocol-Version,
-- Mcp-Method, Mcp-Name for tools/call) and the _meta envelope (protocolVersion,
-- clientCapabilities, clientInfo). Ids are thread number * 1e9 + counter, as in mcp.lua.
-- A response counts as an error unless it is HTTP 200 carrying a JSON-RPC "result" with
-- "resultType":"complete" that is not a tool error ("isError":true); the first bad one is kept.
-- done() prints one line "WRKJSON {...}" (latencies in microseconds), the format of mcp.lua.

local threads = {}
local next_tid = 0

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

local head, tail, counter, base

function init(args)
  local version, method, tool = args[2] or "2026-07-28", args[3] or "tools/call", args[4]
  local caps = args[5] or "{}"
  if version == "-" then version = "2026-07-28" end
  errors = 0
  first_error = ""
  counter = 0
  base = (tid or 0) * 1000000000
  local meta = '"_meta":{"io.modelcontextprotocol/protocolVersion":"' .. version .. '",' ..
    '"io.modelcontextprotocol/clientCapabilities":' .. caps .. ',' ..
    '"io.modelcontextprotocol/clientInfo":{"name":"only1mcp-loadtest","version":"1.0"}}'
  local params = ',"params":{' .. meta .. '}'
  if method == "tools/call" then
    params = ',"params":{"name":"' .. tool .. '","arguments":{"text":"hello","n":42},' ..
      meta .. '}'
    wrk.headers["Mcp-Name"] = tool
  end
  head = '{"jsonrpc":"2.0","id":'
  tail = ',"method":"' .. method .. '"' .. params .. '}'
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json, text/event-stream"
  wrk.headers["MCP-Protocol-Version"] = version
  wrk.headers["Mcp-Method"] = method
end

function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, head .. string.format("%d", base + counter) .. tail)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"result":', 1, true)
      or not string.find(body, '"resultType":"complete"', 1, true)
      or string.find(body, '"isError":true', 1, true) then
    errors = errors + 1
    if first_error == "" then
      first_error = status .. " " .. string.sub(body, 1, 300)
    end
  end
end

local function clean(s)
  return (string.gsub(s or "", '[%c"\\]', "'"))
end

function done(summary, latency, requests)
  local errs, first = 0, ""
  for _, t in ipairs(threads) do
    errs = errs + (t:get("errors") or 0)
    local fe = t:get("first_error")
    if first == "" and fe and fe ~= "" then first = fe end
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"bad_responses":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,' ..
    '"timeouts":%d,"lat_mean_us":%.2f,"lat_stdev_us":%.2f,"lat_max_us":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"first_error":"%s"}\n',
    summary.requests, summary.duration, summary.bytes, errs,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), clean(first)))
end
