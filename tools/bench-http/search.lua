-- GET Patient?family=FamN&_count=10 for a random family (about SEEDED/FAMILIES matches each).
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
request = function()
  return wrk.format("GET", string.format("/Patient?family=Fam%d&_count=10", math.random(0, families - 1)))
end
