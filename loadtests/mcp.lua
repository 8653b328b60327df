-- wrk script: POST one MCP JSON-RPC request per call over an existing session.
--
--   wrk -t1 -c16 -d8s -s loadtests/mcp.lua http://127.0.0.1:P/mcp -- \
--       SESSION_ID PROTOCOL_VERSION METHOD [TOOL [ERA]]
--
-- METHOD is tools/call (TOOL is called with {"text":"hello","n":42}), tools/list or ping.
-- ERA "stateless" speaks MCP 2026-07-28 instead (SESSION_ID is then "-"): no session, every
-- request mirrors its version, method and tool name in the MCP-Protocol-Version, Mcp-Method
-- and Mcp-Name headers and carries the envelope (version, client capabilities, client info)
-- in params._meta.
-- Every request gets its own id (thread number * 1e9 + counter): ids are never reused while
-- another request with the same id is in flight, as MCP requires of a session.
-- A response counts as an error unless it is HTTP 200 carrying a JSON-RPC "result" that is not
-- a tool error ("isError":true); the first bad one is kept for the report.
-- done() prints one line "WRKJSON {...}" (latencies in microseconds) for run_load.py.

local threads = {}
local next_tid = 0

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

local head, tail, counter, base

function init(args)
  local session, version, method, tool = args[1], args[2], args[3] or "tools/call", args[4]
  local stateless = args[5] == "stateless"
  errors = 0
  first_error = ""
  counter = 0
  base = (tid or 0) * 1000000000
  local params = ""
  local meta = ""
  if stateless then
    meta = '"_meta":{"io.modelcontextprotocol/protocolVersion":"' .. version .. '",' ..
      '"io.modelcontextprotocol/clientCapabilities":{},' ..
      '"io.modelcontextprotocol/clientInfo":{"name":"only1mcp-loadtest","version":"1.0"}}'
    params = ',"params":{' .. meta .. '}'
  end
  if method == "tools/call" then
    -- the echo backend's arguments unless the run names others (a server of another SDK)
    local arguments = os.getenv("MCP_TOOL_ARGUMENTS") or '{"text":"hello","n":42}'
    params = ',"params":{"name":"' .. tool .. '","arguments":' .. arguments ..
      (stateless and ',' .. meta or '') .. '}'
  end
  head = '{"jsonrpc":"2.0","id":'
  tail = ',"method":"' .. method .. '"' .. params .. '}'
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json, text/event-stream"
  if session and session ~= "" and session ~= "-" then
    wrk.headers["Mcp-Session-Id"] = session
  end
  if version and version ~= "" and version ~= "-" then
    wrk.headers["MCP-Protocol-Version"] = version
  end
  for i = 6, #args do  -- extra "Name: value" headers (an Authorization)
    local name, value = string.match(args[i], "^([^:]+):%s*(.*)$")
    if name then
      wrk.headers[name] = value
    end
  end
  if stateless then
    wrk.headers["Mcp-Method"] = method
    if method == "tools/call" then
      wrk.headers["Mcp-Name"] = tool
    end
  end
end

function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, head .. string.format("%d", base + counter) .. tail)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"result":', 1, true)
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
