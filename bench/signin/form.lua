-- wrk script: password sign-in through the form (POST /login), cycling over
-- TESSERA_BENCH_USERS generated users (bench-u<N>@contoso.com, bench/directory/populate.py) in
-- strides of a prime, so that no account has more than a request or two in flight and a large
-- directory is sampled from end to end. The form's CSRF token is the
-- browser's own cookie sent back in a field (double submit), so one made-up token serves every
-- request. A right password is answered 303 (to the next page, with a new session cookie):
-- wrk does not count a 200 (the form again, with an error) as an error, so form.sh checks the
-- statuses in Tessera's metrics and the sign-ins in its audit trail.

local path = "/login"
local password = os.getenv("TESSERA_BENCH_PASSWORD")
local users = tonumber(os.getenv("TESSERA_BENCH_USERS"))
local csrf = os.getenv("TESSERA_BENCH_CSRF")
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Cookie"] = "tessera_csrf=" .. csrf }
local counter = math.random(0, users - 1)

local function form_encode(text)
  return (text:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local tail = "&password=" .. form_encode(password) .. "&csrf=" .. form_encode(csrf) .. "&continue="

request = function()
  counter = (counter + 7919) % users
  local user = string.format("bench-u%d@contoso.com", counter)
  return wrk.format("POST", path, headers, "username=" .. form_encode(user) .. tail)
end

-- The summary line (bench/result.lua), found beside this script wherever wrk runs from.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "../result.lua")
