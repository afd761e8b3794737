-- wrk: POST /api/did/assign, every request a different number from the lower
-- half of the inventory (ids FIRST_ID, FIRST_ID+1, …, interleaved by thread).
-- TOKENS names a file with one token per line. Non-200 answers are counted.
local thread_count = 0
setup = function(thread)
  thread:set("thread_id", thread_count)
  thread_count = thread_count + 1
end

init = function(args)
  tokens = {}
  for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
  threads = tonumber(os.getenv("THREADS"))
  next_id = tonumber(os.getenv("FIRST_ID")) + thread_id
  failures = 0
end

request = function()
  local id = next_id
  next_id = next_id + threads
  local token = tokens[(id % #tokens) + 1]
  return wrk.format("POST", "/api/did/assign",
    { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "token=" .. token .. "&did_id=" .. id)
end

response = function(status, headers, body)
  if status ~= 200 then failures = failures + 1 end
end
