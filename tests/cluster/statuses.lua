-- wrk script: POST one fixed body over and over; count the answers by HTTP status.
--
--   wrk -t1 -c12 -d4s -s statuses.lua URL -- BODY "Name: value"...
--
-- done() prints one line "STATUSES {"duration_us":D,"200":n,"429":m,...}".

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.body = args[1]
  wrk.headers["Content-Type"] = "application/json"
  for i = 2, #args do
    local name, value = string.match(args[i], "^([^:]+):%s*(.*)$")
    if name then
      wrk.headers[name] = value
    end
  end
  counts = {}
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("counts")) do
      total[status] = (total[status] or 0) + n
    end
  end
  local parts = {string.format('"duration_us":%d', summary.duration)}
  for status, n in pairs(total) do
    table.insert(parts, string.format('"%d":%d', status, n))
  end
  io.write("STATUSES {" .. table.concat(parts, ",") .. "}\n")
end
