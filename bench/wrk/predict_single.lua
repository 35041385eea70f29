-- POST {"text": ...}: one distinct text per request (bench/api.py).
dofile(string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "common.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
   local text = next_text()
   return post('{"text":"' .. text .. '"}')
end
