-- wrk script: the initialize storm — a client that re-initializes on every request and never
-- ends a session (no DELETE). Every POST is an `initialize` that opens a new session.
--
--   wrk -t1 -c16 -d15s -s loadtests/initialize_storm.lua http://127.0.0.1:P/mcp
--
-- A response counts as an error unless it is HTTP 200 carrying a JSON-RPC "result", or a
-- refusal the gateway is allowed to give when full (503, or 429 with Retry-After); refusals
-- are counted apart. done() prints one line "WRKJSON {...}" for run_load.py.

local threads = {}
local next_tid = 0

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

local counter, base

function init(args)
  errors = 0
  refused = 0
  first_error = ""
  counter = 0
  base = (tid or 0) * 1000000000
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json, text/event-stream"
end

function request()
  counter = counter + 1
  wrk.body = '{"jsonrpc":"2.0","id":' .. (base + counter) ..
    ',"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},' ..
    '"clientInfo":{"name":"storm","version":"1.0"}}}'
  return wrk.format()
end

function response(status, headers, body)
  if status == 503 or status == 429 then
    refused = refused + 1
  elseif status ~= 200 or not string.find(body, '"result"', 1, true) then
    errors = errors + 1
    if first_error == "" then
      first_error = status .. " " .. string.sub(body, 1, 200)
    end
  end
end

function done(summary, latency, requests)
  local errs, refusals, first = 0, 0, ""
  for _, thread in ipairs(threads) do
    errs = errs + (thread:get("errors") or 0)
    refusals = refusals + (thread:get("refused") or 0)
    if first == "" then
      first = thread:get("first_error") or ""
    end
  end
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"errors":%d,"refused":%d,' ..
    '"socket_errors":%d,"p50":%d,"p99":%d,"first_error":"%s"}\n',
    summary.requests, summary.duration, errs, refusals,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout + summary.errors.status,
    latency:percentile(50), latency:percentile(99),
    string.gsub(first, '["\\\n]', " ")))
end
