-- wrk: POST chat completions whose user message cycles through the prompts in BENCH_PROMPTS
-- (a file, one prompt per line), so a monitor sees varied text; prints latency percentiles as JSON.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "sk-bench")

local prompts = {}
for line in io.lines(os.getenv("BENCH_PROMPTS")) do
  prompts[#prompts + 1] = line
end
local i = 0

request = function()
  i = i % #prompts + 1
  local body = '{"model": "bench-model", "messages": [{"role": "system", "content": "You are a helpful assistant."}, '
    .. '{"role": "user", "content": ' .. prompts[i] .. '}]}'
  return wrk.format(nil, nil, nil, body)
end

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
    .. '"mean_us": %.1f, "status_errors": %d, "connect_errors": %d, "read_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, errors.status, errors.connect, errors.read, errors.timeout))
end
