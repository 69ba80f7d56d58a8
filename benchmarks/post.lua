-- wrk: POST a chat completion body (or, with BENCH_API=responses, a Responses API body); at the end print the latency percentiles as JSON.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "sk-bench")
local stream = os.getenv("BENCH_STREAM") == "1"
local model = stream and "bench-stream" or "bench-model"
if os.getenv("BENCH_API") == "responses" then
  -- the same request as the Responses API says it
  wrk.body = '{"model": "' .. model .. '", "instructions": "You are a helpful assistant.", '
    .. '"input": "Write one sentence about the sea."' .. (stream and ', "stream": true' or '') .. '}'
else
  wrk.body = '{"model": "' .. model .. '", "messages": [{"role": "system", "content": "You are a helpful assistant."}, '
    .. '{"role": "user", "content": "Write one sentence about the sea."}]'
    .. (stream and ', "stream": true, "stream_options": {"include_usage": true}' or '') .. '}'
end

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
    .. '"mean_us": %.1f, "status_errors": %d, "connect_errors": %d, "read_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, errors.status, errors.connect, errors.read, errors.timeout))
end
