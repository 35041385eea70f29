-- POST /api/reviews/: one new review per request, external_id unique per run (bench/api.py).
dofile(string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "common.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
   local text, key = next_text()
   local rating = counter % 5 + 1
   return post('{"text":"' .. text .. '","source":"bench-api","external_id":"' .. key
      .. '","rating":' .. rating .. ',"business":"Bench Bistro ' .. (counter % 50) .. '"}')
end
