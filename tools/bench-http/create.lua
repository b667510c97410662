-- POST Patient: a small new Patient each time (durable: acknowledged after the fsync'd commit).
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local n = 0
request = function()
  n = n + 1
  local body = string.format(
    '{"resourceType":"Patient","active":true,"gender":"female","birthDate":"1980-02-03",' ..
    '"identifier":[{"system":"urn:bench:new","value":"n%d-%d"}],' ..
    '"name":[{"family":"Created%d","given":["Wrk"]}]}', seed or 0, n, n % 50)
  return wrk.format("POST", "/Patient", nil, body)
end
