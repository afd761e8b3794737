-- wrk: GET /healthz, the bare HTTP baseline of the same server.
request = function() return wrk.format("GET", "/healthz") end
