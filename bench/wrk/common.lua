-- Shared by the wrk scripts of bench/api.py (loaded with dofile).
-- wrk args (after --): texts file, run tag, [batch size]. The texts file holds one JSON-escaped
-- text per line (no surrounding quotes). Every request gets a text no request sent before:
-- a base text plus " (<run> <thread> <counter>)", so no prediction cache can answer it.

local threads = {}
local next_id = 0

function setup(thread)
   next_id = next_id + 1
   thread:set("thread_id", next_id)
   table.insert(threads, thread)
end

texts = {}
counter = 0
run_tag = "run"
batch_size = 1

function init(args)
   local file = assert(io.open(args[1], "r"))
   for line in file:lines() do
      if #line > 0 then table.insert(texts, line) end
   end
   file:close()
   run_tag = args[2] or run_tag
   batch_size = tonumber(args[3] or "1")
   counter = 0
end

-- The next distinct text, JSON-escaped, and its unique key.
function next_text()
   counter = counter + 1
   local base = texts[(counter * 7919 + thread_id * 104729) % #texts + 1]
   local key = run_tag .. "-" .. thread_id .. "-" .. counter
   return base .. " (" .. key .. ")", key
end

function post(body)
   return wrk.format("POST", nil, nil, body)
end

-- One JSON line that bench/api.py parses (latency in microseconds).
function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, "latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, "p50": %d, "p75": %d, "p90": %d, "p95": %d, "p99": %d, "p999": %d}}\n',
      summary.requests, summary.duration, summary.bytes,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(75), latency:percentile(90), latency:percentile(95),
      latency:percentile(99), latency:percentile(99.9)))
end
