-- wrk script: POST one stateless (MCP 2026-07-28) tools/call per request; no session.
--
--   wrk -t1 -c16 -d3s -s benches/mcp2026.lua http://127.0.0.1:P/mcp -- - 2026-07-28 tools/call TOOL
--
-- Same arguments, ids and error accounting as loadtests/mcp.lua (whose done() it reuses by
-- loading it), plus the 2026 envelope: params._meta and the Mcp-Method / Mcp-Name headers.

local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "../loadtests/mcp.lua")

local head, tail, counter, base

function init(args)
  local version, method, tool = args[2], args[3] or "tools/call", args[4]
  errors = 0
  first_error = ""
  counter = 0
  base = (tid or 0) * 1000000000
  local meta = '"_meta":{"io.modelcontextprotocol/protocolVersion":"' .. version .. '",' ..
    '"io.modelcontextprotocol/clientCapabilities":{}}'
  head = '{"jsonrpc":"2.0","id":'
  tail = ',"method":"' .. method .. '","params":{"name":"' .. tool ..
    '","arguments":{"text":"hello","n":42},' .. meta .. '}}'
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json, text/event-stream"
  wrk.headers["MCP-Protocol-Version"] = version
  wrk.headers["Mcp-Method"] = method
  wrk.headers["Mcp-Name"] = tool
end

function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, head .. string.format("%d", base + counter) .. tail)
end
