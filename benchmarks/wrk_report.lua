-- wrk script for benchmarks/run.py: one fixed request, statistics printed as JSON.
--
-- Why a script: wrk's own text output rounds latencies and hides error kinds; done()
-- gets the raw histogram, so run.py reads exact percentiles and error counts.
-- There is deliberately no response() function: defining one slows wrk down.
--
-- Arguments after "--": METHOD BODY_FILE|- [HEADER ...], each header "Name: value".

init = function(args)
  wrk.method = args[1] or "GET"
  local body_file = args[2] or "-"
  if body_file ~= "-" then
    local f = assert(io.open(body_file, "rb"))
    wrk.body = f:read("*a")
    f:close()
  end
  for i = 3, #args do
    local name, value = string.match(args[i], "^([^:]+):%s*(.*)$")
    if name then wrk.headers[name] = value end
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,' ..
    '"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
