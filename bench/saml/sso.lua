-- wrk script: SP-initiated SAML SSO with a live session. Every request is a fresh Entra
-- AuthnRequest (HTTP-POST binding, unique ID, so the replay cache never short-cuts it).
-- The session cookie comes from the environment (TESSERA_BENCH_COOKIE).

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(data)
  return ((data:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#data % 3 + 1])
end

local function form_encode(text)
  return (text:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local counter = 0
-- IDs stay unique across the run's phases: each wrk starts the same random sequence.
local thread_tag = (os.getenv("TESSERA_BENCH_PHASE") or "0") .. "-" .. tostring(math.random(1, 1e9))
local instant = os.date("!%Y-%m-%dT%H:%M:%SZ")
local cookie = os.getenv("TESSERA_BENCH_COOKIE")
local path = os.getenv("TESSERA_BENCH_PATH")

request = function()
  counter = counter + 1
  local xml = '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_bench-'
    .. thread_tag .. "-" .. counter .. '" IssueInstant="' .. instant
    .. '" Version="2.0"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">urn:federation:MicrosoftOnline</Issuer>'
    .. '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/></samlp:AuthnRequest>'
  local body = "SAMLRequest=" .. form_encode(base64(xml))
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = cookie,
  }, body)
end

local bad = 0
response = function(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_s=%.2f rps=%.1f p50_ms=%.2f p99_ms=%.2f non200=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
