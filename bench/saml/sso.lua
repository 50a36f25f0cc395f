-- wrk script: SP-initiated SAML SSO with a live session. Every request is a fresh Entra
-- AuthnRequest (HTTP-POST binding, unique ID, so the replay cache never short-cuts it).
-- The session cookie comes from the environment (TESSERA_BENCH_COOKIE), or, with
-- TESSERA_BENCH_COOKIES_FILE, each request takes the next of that file's session cookie values
-- (bench/directory/populate.py writes them), so that many sessions are looked up in turn.
--
-- wrk shares a machine with Tessera, so it must stay cheap: the request's parts before and
-- after the ID are encoded once, at lengths that are multiples of 3 bytes, so that the
-- base64 of the whole is the concatenation of the parts' base64. Per request only the ID is
-- encoded. No `response` callback either: defining one makes wrk copy every body into Lua.
-- wrk counts only 4xx/5xx answers and socket errors as errors: lib.sh checks every answer's
-- status in Tessera's own metrics, and the issued-token count in its audit trail.

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local b64 = {}
for i = 1, 64 do b64[i - 1] = b64chars:sub(i, i) end

-- Base64 of text whose length is a multiple of 3 (no padding), or of the last part (padded).
local function base64(data)
  local out, n = {}, #data
  for i = 1, n, 3 do
    local a, b, c = data:byte(i, i + 2)
    local word = a * 65536 + (b or 0) * 256 + (c or 0)
    out[#out + 1] = b64[math.floor(word / 262144) % 64] .. b64[math.floor(word / 4096) % 64]
      .. (b and b64[math.floor(word / 64) % 64] or "=") .. (c and b64[word % 64] or "=")
  end
  return table.concat(out)
end

local function form_encode(text)
  return (text:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- Pads text with `pad` until its length is a multiple of 3.
local function align(text, pad)
  while #text % 3 ~= 0 do text = text .. pad end
  return text
end

local counter = 0
-- IDs stay unique across the run's phases: each wrk starts the same random sequence.
local thread_tag = (os.getenv("TESSERA_BENCH_PHASE") or "0") .. "-" .. tostring(math.random(1, 1e9))
local instant = os.date("!%Y-%m-%dT%H:%M:%SZ")
local cookie = os.getenv("TESSERA_BENCH_COOKIE")
local path = os.getenv("TESSERA_BENCH_PATH")

local head = align('<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_bench-'
  .. thread_tag .. "-", "x")
local tail = '" IssueInstant="' .. instant
  .. '" Version="2.0"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">urn:federation:MicrosoftOnline</Issuer>'
  .. '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/></samlp:AuthnRequest>'
local body_head = "SAMLRequest=" .. form_encode(base64(head))
local body_tail = form_encode(base64(tail))
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Cookie"] = cookie }
local cookies = {}
local cookies_file = os.getenv("TESSERA_BENCH_COOKIES_FILE")
if cookies_file then
  for line in io.lines(cookies_file) do cookies[#cookies + 1] = "tessera_session=" .. line end
end
local next_cookie = math.random(1, math.max(#cookies, 1))

request = function()
  counter = counter + 1
  if #cookies > 0 then
    next_cookie = next_cookie % #cookies + 1
    headers["Cookie"] = cookies[next_cookie]
  end
  -- 12 digits: a multiple of 3, and unique for any run wrk can make.
  return wrk.format("POST", path, headers, body_head .. form_encode(base64(string.format("%012d", counter))) .. body_tail)
end

-- TESSERA_BENCH_PACE_MS: a pause before each request on a connection, drawn evenly from 0 to
-- twice this mean (so the connections do not march in step): a paced load below saturation.
local pace = tonumber(os.getenv("TESSERA_BENCH_PACE_MS") or "")
if pace then
  delay = function() return math.random() * 2 * pace end
end

-- The summary line (bench/result.lua), found beside this script wherever wrk runs from.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "../result.lua")
