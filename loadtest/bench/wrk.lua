-- wrk.lua: the requests of `narthex loadtest wrk` (embedded in the load
-- tool, which writes it out next to the list of paths it made).
--
--   wrk -t1 -c64 -d5s -s wrk.lua http://127.0.0.1:8081 -- paths.txt 1
--
-- paths.txt holds one request path a line (/<hash>.narinfo), drawn by the
-- load tool as `loadtest lookup` draws its keys; the number after it is
-- wrk's -t. Every request is formatted
-- once, in init, so that a request costs wrk no Lua beyond picking the next
-- one; thread k starts a k-th of the way into the list and cycles through
-- it. done() prints one JSON line, the last line of the output, which the
-- load tool reads.

local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  reqs = {}
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do
    reqs[#reqs + 1] = wrk.format("GET", line)
  end
  f:close()
  assert(#reqs > 0, "no paths in " .. args[1])
  local threads = math.max(tonumber(args[2]) or 1, 1)
  i = math.floor(id * #reqs / threads) % #reqs
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,"connect_errors":%d,"read_errors":%d,'
      .. '"write_errors":%d,"timeouts":%d,"mean_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
