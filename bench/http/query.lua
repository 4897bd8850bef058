-- wrk script: POST /vectors/query cycling through pre-generated bodies
-- (one JSON document per line of VDB_PAYLOAD). Env: VDB_KEY, VDB_PAYLOAD.
local bodies = {}
for line in io.lines(os.getenv("VDB_PAYLOAD")) do
  bodies[#bodies + 1] = line
end
local i = 0
local key = os.getenv("VDB_KEY")

function request()
  i = i % #bodies + 1
  return wrk.format("POST", "/vectors/query",
    {["Content-Type"] = "application/json", ["X-API-Key"] = key}, bodies[i])
end

local errors = 0
function response(status, headers, resp)
  if status ~= 200 then
    errors = errors + 1
    if errors < 5 then io.stderr:write("query failed: " .. status .. " " .. resp:sub(1, 200) .. "\n") end
  end
end
