-- wrk script: MSAL's WS-Trust 1.3 RST (the same envelope msal/wstrust_request.py builds), a
-- new MessageID per request (each is accepted once), cycling over TESSERA_BENCH_USERS users so
-- that no account has more than a request or two in flight (the lockout counts attempts in
-- flight). Endpoint URL, password and user count come from the environment.

local endpoint = os.getenv("TESSERA_BENCH_ENDPOINT")
local path = os.getenv("TESSERA_BENCH_PATH")
local password = os.getenv("TESSERA_BENCH_PASSWORD")
local users = tonumber(os.getenv("TESSERA_BENCH_USERS"))
local phase = os.getenv("TESSERA_BENCH_PHASE") or "0"
local created = os.date("!%Y-%m-%dT%H:%M:%SZ")
local expires = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + 600)
local action = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue"
local counter = 0

request = function()
  counter = counter + 1
  local user = string.format("bench%d@contoso.com", counter % users)
  local body = "<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope' xmlns:wsa='http://www.w3.org/2005/08/addressing' xmlns:wsu='http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd'><s:Header>"
    .. "<wsa:Action s:mustUnderstand='1'>" .. action .. "</wsa:Action>"
    .. "<wsa:MessageID>urn:uuid:bench-" .. phase .. "-" .. counter .. "</wsa:MessageID>"
    .. "<wsa:ReplyTo><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo>"
    .. "<wsa:To s:mustUnderstand='1'>" .. endpoint .. "</wsa:To>"
    .. "<wsse:Security s:mustUnderstand='1' xmlns:wsse='http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd'>"
    .. "<wsu:Timestamp wsu:Id='_0'><wsu:Created>" .. created .. "</wsu:Created><wsu:Expires>" .. expires .. "</wsu:Expires></wsu:Timestamp>"
    .. "<wsse:UsernameToken wsu:Id='ADALUsernameToken'><wsse:Username>" .. user .. "</wsse:Username><wsse:Password>" .. password .. "</wsse:Password></wsse:UsernameToken>"
    .. "</wsse:Security></s:Header><s:Body><wst:RequestSecurityToken xmlns:wst='http://docs.oasis-open.org/ws-sx/ws-trust/200512'>"
    .. "<wsp:AppliesTo xmlns:wsp='http://schemas.xmlsoap.org/ws/2004/09/policy'><wsa:EndpointReference><wsa:Address>urn:federation:MicrosoftOnline</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>"
    .. "<wst:KeyType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer</wst:KeyType>"
    .. "<wst:RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue</wst:RequestType></wst:RequestSecurityToken></s:Body></s:Envelope>"
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/soap+xml; charset=utf-8",
    ["SOAPAction"] = action,
  }, body)
end

-- The summary line (bench/result.lua), found beside this script wherever wrk runs from.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "../result.lua")
