-- Shared by the wrk scripts: the FHIR content type and, when TOKEN is set, the bearer token.
wrk.headers["Accept"] = "application/fhir+json"
wrk.headers["Content-Type"] = "application/fhir+json"
local token = os.getenv("TOKEN")
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
seeded = tonumber(os.getenv("SEEDED") or "10000")
families = tonumber(os.getenv("FAMILIES") or "100")

-- Each wrk thread gets its own random sequence.
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end
function init(args)
  math.randomseed(os.time() + (seed or 0) * 7919)
end
