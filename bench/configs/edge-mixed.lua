-- The mixed run: 90 % of requests hit one hot 4 KiB object, 10 % miss. Each new key is asked
-- for by about four requests in a row, which wrk sends on different connections, so they
-- arrive together and a collapsing cache makes one origin request for them. The key prefix
-- is random per run, so a repeated run misses again.
local n = 0
local prefix = "/miss/"

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  prefix = string.format("/miss/%d-", math.random(1, 1000000000))
end

function request()
  n = n + 1
  if n % 10 == 0 then
    return wrk.format("GET", prefix .. math.floor(n / 40))
  end
  return wrk.format("GET", "/size/4096")
end
