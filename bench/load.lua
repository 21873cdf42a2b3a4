-- wrk script for bench/run.py: every request carries another learner's LMS JWT.
--
-- Environment (set by run.py):
--   BENCH_MODE    "get"  : GET BENCH_PATH, rotating through the tokens in BENCH_TOKENS
--                 "flow" : per connection, POST /api/v1/exams/attempt (start_clock=true) then
--                          PUT /api/v1/exams/attempt/<id> {"action": "submit"}; every flow uses a fresh
--                          (learner, exam) pair: learner k mod L, exam BENCH_EXAMS[k div L]
--   BENCH_TOKENS  file with one JWT per line
--   BENCH_PATH    path (and query) of the GET
--   BENCH_EXAMS   comma-separated exam ids for the flows
--   BENCH_OUT     where done() writes its JSON summary
-- The flow mode must run with as many connections as threads (-t N -c N): wrk tells a thread's
-- responses apart only by order, so each thread keeps one connection and walks POST, PUT, POST, ...

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_index", thread_count - 1)
  table.insert(threads, thread)
end

local function read_lines(path)
  local lines = {}
  for line in io.lines(path) do
    if #line > 0 then table.insert(lines, line) end
  end
  return lines
end

local function split_numbers(text)
  local out = {}
  for value in string.gmatch(text or "", "[^,]+") do table.insert(out, tonumber(value)) end
  return out
end

local mode, tokens, path, exams, step, k
local pending_put = nil -- the PUT to send after a successful POST (flow mode)
-- Globals, so that done() can read them from each thread.
flows_done, flows_failed = 0, 0

function init(args)
  mode = os.getenv("BENCH_MODE") or "get"
  tokens = read_lines(os.getenv("BENCH_TOKENS"))
  path = os.getenv("BENCH_PATH") or "/api/v1/exams/attempt/latest"
  exams = split_numbers(os.getenv("BENCH_EXAMS"))
  -- Threads interleave over the token list: thread i uses i, i+T, i+2T, ...
  step = tonumber(os.getenv("BENCH_THREADS") or "1")
  k = thread_index
end

local function auth(index)
  return "JWT " .. tokens[(index % #tokens) + 1]
end

local function next_get()
  local headers = { ["Authorization"] = auth(k) }
  k = k + step
  return wrk.format("GET", path, headers)
end

local function next_flow()
  if pending_put ~= nil then
    local put = pending_put
    pending_put = nil
    return wrk.format("PUT", "/api/v1/exams/attempt/" .. put.id,
      { ["Authorization"] = put.auth, ["Content-Type"] = "application/json" }, '{"action": "submit"}')
  end
  local learners = #tokens
  local exam = exams[(math.floor(k / learners) % #exams) + 1]
  local headers = { ["Authorization"] = auth(k), ["Content-Type"] = "application/json" }
  current_auth = headers["Authorization"]
  k = k + step
  return wrk.format("POST", "/api/v1/exams/attempt", headers,
    '{"exam_id": ' .. exam .. ', "start_clock": "true"}')
end

function request()
  if mode == "flow" then return next_flow() end
  return next_get()
end

local awaiting_put = false

local function flow_response(status, headers, body)
  if awaiting_put then
    awaiting_put = false
    if status == 200 then flows_done = flows_done + 1 else flows_failed = flows_failed + 1 end
    return
  end
  local id = status == 200 and string.match(body, '"exam_attempt_id"%s*:%s*(%d+)') or nil
  if id then
    pending_put = { id = id, auth = current_auth }
    awaiting_put = true
  else
    flows_failed = flows_failed + 1
  end
end

-- Only the flows read bodies: defining response() makes wrk keep every body.
if os.getenv("BENCH_MODE") == "flow" then response = flow_response end

function done(summary, latency, requests)
  local errors = summary.errors
  local done_flows, failed_flows = 0, 0
  for _, thread in ipairs(threads) do
    done_flows = done_flows + (thread:get("flows_done") or 0)
    failed_flows = failed_flows + (thread:get("flows_failed") or 0)
  end
  local out = io.open(os.getenv("BENCH_OUT"), "w")
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "errors": {"connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d}, "latency_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}, ' ..
    '"flows_done": %d, "flows_failed": %d}\n',
    summary.requests, summary.duration, summary.bytes, errors.connect, errors.read, errors.write,
    errors.status, errors.timeout, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, done_flows, failed_flows))
  out:close()
end
