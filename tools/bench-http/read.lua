-- GET Patient/{id} of a random seeded Patient.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
request = function()
  return wrk.format("GET", string.format("/Patient/p%05d", math.random(1, seeded)))
end
