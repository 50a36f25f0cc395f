-- wrk script: Entra's passive sign-in (GET) with a live session. The cookie and path come
-- from the environment.
local cookie = os.getenv("TESSERA_BENCH_COOKIE")
local path = os.getenv("TESSERA_BENCH_PATH")

request = function()
  return wrk.format("GET", path, { ["Cookie"] = cookie })
end

-- TESSERA_BENCH_PACE_MS: a pause before each request on a connection, drawn evenly from 0 to
-- twice this mean (so the connections do not march in step): a paced load below saturation.
local pace = tonumber(os.getenv("TESSERA_BENCH_PACE_MS") or "")
if pace then
  delay = function() return math.random() * 2 * pace end
end

-- The summary line (bench/result.lua), found beside this script wherever wrk runs from.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "../result.lua")
