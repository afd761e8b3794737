-- wrk: POST /api/did/available, French landlines, one page of 20.
-- TOKENS names a file with one token per line.
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
local n = 0
request = function()
  n = n + 1
  local token = tokens[(n % #tokens) + 1]
  return wrk.format("POST", "/api/did/available",
    { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "token=" .. token .. "&country=FR&type=landline&limit=20")
end
