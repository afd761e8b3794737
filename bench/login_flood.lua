-- wrk: POST /api/login with a new unknown username each time (every one costs
-- a password check), stopping after LOGIN_FLOOD_PER_THREAD answers per thread; tallies
-- the answers by status.
local per_thread = tonumber(os.getenv("LOGIN_FLOOD_PER_THREAD") or "5000")
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  sent = 0
  answered = 0
  statuses = {}
end

function request()
  sent = sent + 1
  local body = "username=nobody" .. id .. "x" .. sent .. "&password=x"
  return wrk.format("POST", "/api/login",
    { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end

function response(status, headers, body)
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if answered >= per_thread then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    for status, n in pairs(counts) do
      totals[status] = (totals[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(totals) do
    table.insert(parts, status .. "=" .. n)
  end
  table.sort(parts)
  io.write("statuses: " .. table.concat(parts, " ") .. "\n")
end
