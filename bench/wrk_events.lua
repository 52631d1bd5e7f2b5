-- wrk script for the fastaw HTTP benchmarks (driven by bench/bench_http.py).
--
-- Usage: wrk -t T -c C -d D -s bench/wrk_events.lua http://127.0.0.1:PORT -- \
--          MODE BUCKET POOL_FILE SEED BASE_EPOCH STEP_MS PULSETIME BATCH_SIZE
--
-- MODE
--   hb-same   POST /api/0/buckets/BUCKET/heartbeat?pulsetime=P, the same data every
--             time, timestamps advancing by STEP_MS: every heartbeat merges.
--   hb-alt    the same, but data alternates between two values: every heartbeat
--             inserts a new event.
--   batch     POST /api/0/buckets/BUCKET/events with a JSON list of BATCH_SIZE
--             events, timestamps advancing by STEP_MS from event to event.
--
-- POOL_FILE holds one compact JSON object per line (the event `data`), generated
-- from SEED by bench_http.py; heartbeats use its first two lines.
--
-- Invariants: timestamps are UTC with a `Z` suffix (no `+` to encode); request n of
-- thread t (of T) gets the global index n*T + t, so timestamps never repeat within a
-- run and, with one thread, increase in send order.  All randomness comes from
-- math.randomseed(SEED + thread id).  done() prints one line
-- "BENCHJSON {...}" with the totals and latency percentiles (microseconds).

local floor = math.floor
local concat = table.concat

local thread_count = 0

function setup(thread)
   thread:set("tid", thread_count)
   thread_count = thread_count + 1
end

-- Per-thread state (set up in init).
local mode, path, headers
local pool = {}
local counter = 0
local nthreads = 1
local base_ms, step_ms, batch_size
local tails = {}
local fracs = {}
local mmss = {}
local cur_hour, cur_prefix = -1, ""

local function hour_prefix(sec)
   -- "YYYY-MM-DDTHH:" of the hour containing sec (cached: os.date is slowish).
   local hour = floor(sec / 3600)
   if hour ~= cur_hour then
      cur_hour = hour
      cur_prefix = os.date("!%Y-%m-%dT%H:", hour * 3600)
   end
   return cur_prefix, sec - hour * 3600
end

local function ts_string(ms)
   -- ms: integer milliseconds since the epoch -> "YYYY-MM-DDTHH:MM:SS.mmmZ".
   local sec = floor(ms / 1000)
   local prefix, in_hour = hour_prefix(sec)
   return prefix .. mmss[in_hour + 1] .. fracs[ms - sec * 1000 + 1]
end

function init(args)
   mode = args[1]
   local bucket = args[2]
   local pool_file = args[3]
   local seed = tonumber(args[4])
   base_ms = tonumber(args[5]) * 1000
   step_ms = tonumber(args[6])
   local pulsetime = args[7]
   batch_size = tonumber(args[8])
   nthreads = tonumber(args[9] or "1")
   tid = tid or 0

   math.randomseed(seed + tid)
   for line in io.lines(pool_file) do
      if #line > 0 then
         pool[#pool + 1] = line
      end
   end
   for i = 0, 3599 do
      mmss[i + 1] = string.format("%02d:%02d", floor(i / 60), i % 60)
   end
   for i = 0, 999 do
      fracs[i + 1] = string.format(".%03dZ", i)
   end
   -- Event tails: random duration (under a second to a few minutes, mostly short)
   -- and random window, pre-joined so a batch event costs few concatenations.
   for i = 1, 4096 do
      tails[i] = '","duration":' .. string.format("%.3f", math.random() ^ 3 * 300)
         .. ',"data":' .. pool[math.random(#pool)] .. "}"
   end

   headers = { ["Content-Type"] = "application/json" }
   if mode == "batch" then
      path = "/api/0/buckets/" .. bucket .. "/events"
   else
      path = "/api/0/buckets/" .. bucket .. "/heartbeat?pulsetime=" .. pulsetime
   end
end

local function heartbeat_body(index)
   local data
   if mode == "hb-alt" then
      data = pool[index % 2 + 1]
   else
      data = pool[1]
   end
   return '{"timestamp":"' .. ts_string(base_ms + index * step_ms)
      .. '","duration":0,"data":' .. data .. "}"
end

-- LuaJIT's string.buffer appends without creating (and interning) intermediate
-- strings: about 3x cheaper per event than concatenation.
local has_buffer, strbuf = pcall(require, "string.buffer")
local buf = has_buffer and strbuf.new(256 * 1024) or nil

local function batch_body(index)
   local first = index * batch_size
   local ntails = #tails
   local random = math.random
   if buf then
      buf:reset()
      buf:put("[")
      for k = 0, batch_size - 1 do
         local ms = base_ms + (first + k) * step_ms
         local sec = floor(ms / 1000)
         local prefix, in_hour = hour_prefix(sec)
         if k > 0 then
            buf:put(",")
         end
         buf:put('{"timestamp":"', prefix, mmss[in_hour + 1], fracs[ms - sec * 1000 + 1])
         buf:put(tails[random(ntails)])
      end
      buf:put("]")
      return buf:tostring()
   end
   local parts = {}
   for k = 0, batch_size - 1 do
      parts[k + 1] = '{"timestamp":"' .. ts_string(base_ms + (first + k) * step_ms)
         .. tails[random(ntails)]
   end
   return "[" .. concat(parts, ",") .. "]"
end

function request()
   local index = counter * nthreads + tid
   counter = counter + 1
   local body
   if mode == "batch" then
      body = batch_body(index)
   else
      body = heartbeat_body(index)
   end
   return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,'
         .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
         .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean
   ))
end
