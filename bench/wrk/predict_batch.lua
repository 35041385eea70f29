-- POST {"texts": [...]}: batch_size distinct texts per request (bench/api.py).
dofile(string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "common.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
   local parts = {}
   for i = 1, batch_size do
      local text = next_text()
      parts[i] = '"' .. text .. '"'
   end
   return post('{"texts":[' .. table.concat(parts, ",") .. ']}')
end
