"""The Lua scripts behind limits and budgets in Redis: the one place their keys' layout is written.

Per scope (``key:<id>``, ``team:<id>``, ``user:<id>``):

- ``<prefix>:rpm:<scope>``: a sorted set, one member per request admitted in the last minute
  (score: its time in ms);
- ``<prefix>:tpm:<scope>``: a hash of tokens counted per second (field: the second's start in ms);
- ``<prefix>:spend:<scope>:<period start>``: the period's spend, an integer of 1e-10 USD;
- ``<prefix>:held:<scope>:<period start>``: the reservations in flight, ``id`` → ``amount:deadline``.

Each operation is written once as a Lua function (``_FUNCTIONS``) and the scripts are made of
them, so a request's whole admission (its rate limits in every scope, then its budget
reservation) is one script call, one round trip, and its settling (tokens and spend) another:
``ADMIT`` and ``SETTLE``. The single-purpose scripts (``RPM``, ``TPM_READ``, ``RESERVE``,
``RENEW``) serve the checks made on their own.
"""

from __future__ import annotations

#: tokens are counted per second: at most 60 fields per scope in the window
TOKEN_BUCKET_MS = 1000

_FUNCTIONS = """
local function rpm_hit(key, now, window, limit, member)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local n = redis.call('ZCARD', key)
  if n >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    return 0, n, tonumber(oldest[2])
  end
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, window)
  return 1, n + 1, 0
end

local function tpm_read(key, now, window)
  local fields = redis.call('HGETALL', key)
  local total, oldest = 0, -1
  for i = 1, #fields, 2 do
    local at = tonumber(fields[i])
    if at <= now - window then
      redis.call('HDEL', key, fields[i])
    else
      total = total + tonumber(fields[i + 1])
      if oldest < 0 or at < oldest then oldest = at end
    end
  end
  return total, oldest
end

-- budgets: KEYS[first + 2(i-1)] is scope i's spend counter, the next its reservations
local function budget_missing(first, scopes)
  for i = 1, scopes do
    if redis.call('EXISTS', KEYS[first + 2 * i - 2]) == 0 then return i end
  end
  return 0
end

local function budget_reserve(first, scopes, now, deadline, id, amount, budgets, entry)
  for i = 1, scopes do
    local spent = tonumber(redis.call('GET', KEYS[first + 2 * i - 2]))
    local held_key = KEYS[first + 2 * i - 1]
    local held = redis.call('HGETALL', held_key)
    local reserved, count = 0, 0
    for j = 1, #held, 2 do
      local value = held[j + 1]
      local sep = string.find(value, ':', 1, true)
      if tonumber(string.sub(value, sep + 1)) <= now then
        redis.call('HDEL', held_key, held[j])  -- a lapsed lease: its holder is gone
      else
        reserved = reserved + tonumber(string.sub(value, 1, sep - 1))
        count = count + 1
      end
    end
    local budget = tonumber(budgets[i])
    if spent >= budget or (count > 0 and spent + reserved + amount > budget) then
      return i, spent, reserved, count
    end
  end
  for i = 1, scopes do
    redis.call('HSET', KEYS[first + 2 * i - 1], id, entry)  -- 'amount:deadline'
    redis.call('PEXPIRE', KEYS[first + 2 * i - 1], deadline - now)
  end
  return 0, 0, 0, 0
end

local function budget_settle(first, scopes, id, cost)  -- cost: the units as text
  local released = 0
  for i = 1, scopes do
    released = released + redis.call('HDEL', KEYS[first + 2 * i - 1], id)
    -- a counter that is gone (Redis restarted) is seeded again from the store, which has this cost
    if tonumber(cost) > 0 and redis.call('EXISTS', KEYS[first + 2 * i - 2]) == 1 then
      redis.call('INCRBY', KEYS[first + 2 * i - 2], cost)
    end
  end
  return released
end
"""

#: KEYS: the scope's sorted set; ARGV: now_ms, window_ms, limit, member -> {allowed, count, oldest_ms}
RPM = (
    _FUNCTIONS
    + """
local allowed, n, oldest = rpm_hit(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4])
return {allowed, n, oldest}
"""
)

#: KEYS: the scope's token hash; ARGV: now_ms, window_ms -> {total, oldest_ms or -1}
TPM_READ = (
    _FUNCTIONS
    + """
local total, oldest = tpm_read(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
return {total, oldest}
"""
)

#: KEYS: each budget scope's spend counter and reservations, in pairs, then each rate-limited
#: scope's sorted set and token hash, in pairs.
#: ARGV: now_ms, lease deadline_ms, reservation id, amount, B (budget scopes), B budgets,
#: window_ms, member, L (rate-limited scopes), then each one's rpm and tpm (0: none).
#: -> {status, index, spent, reserved, in flight, then per rate-limited scope checked: allowed,
#: count, oldest_ms, tokens, oldest token ms}; status -1: the budget counter ``index`` is not
#: seeded (nothing changed), 2 / 3: scope ``index``'s requests / tokens per minute refused, 0:
#: budget ``index`` refused (the rate limits counted the request), 1: admitted and reserved.
ADMIT = (
    _FUNCTIONS
    + """
local now, deadline, id, amount = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local scopes = tonumber(ARGV[5])
local base = 5 + scopes
local window, member, limited = tonumber(ARGV[base + 1]), ARGV[base + 2], tonumber(ARGV[base + 3])
local missing = budget_missing(1, scopes)
if missing > 0 then return {-1, missing, 0, 0, 0} end
local out = {1, 0, 0, 0, 0}
for i = 1, limited do
  local rpm, tpm = tonumber(ARGV[base + 2 + 2 * i]), tonumber(ARGV[base + 3 + 2 * i])
  local allowed, n, oldest = 1, 0, 0
  if rpm > 0 then
    allowed, n, oldest = rpm_hit(KEYS[2 * scopes + 2 * i - 1], now, window, rpm, member)
  end
  local total, first = 0, -1
  if allowed == 1 and tpm > 0 then
    total, first = tpm_read(KEYS[2 * scopes + 2 * i], now, window)
  end
  for _, value in ipairs({allowed, n, oldest, total, first}) do out[#out + 1] = value end
  if allowed == 0 then out[1], out[2] = 2, i return out end
  if tpm > 0 and total >= tpm then out[1], out[2] = 3, i return out end
end
local budgets = {}
for i = 1, scopes do budgets[i] = ARGV[5 + i] end
local entry = ARGV[4] .. ':' .. ARGV[2]
local refused, spent, reserved, count = budget_reserve(1, scopes, now, deadline, id, amount, budgets, entry)
if refused > 0 then out[1], out[2], out[3], out[4], out[5] = 0, refused, spent, reserved, count end
return out
"""
)

#: KEYS: each budget scope's spend counter and reservations, in pairs (only budgets);
#: ARGV: now_ms, lease deadline_ms, reservation id, amount, then each budget
#: -> {status (1 reserved, 0 refused, -1 not seeded), index, spent, reserved, in flight}
RESERVE = (
    _FUNCTIONS
    + """
local scopes = #KEYS / 2
local missing = budget_missing(1, scopes)
if missing > 0 then return {-1, missing, 0, 0, 0} end
local budgets = {}
for i = 1, scopes do budgets[i] = ARGV[4 + i] end
local now, deadline, entry = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[4] .. ':' .. ARGV[2]
local refused, spent, reserved, count = budget_reserve(
  1, scopes, now, deadline, ARGV[3], tonumber(ARGV[4]), budgets, entry)
if refused > 0 then return {0, refused, spent, reserved, count} end
return {1, 0, 0, 0, 0}
"""
)

#: KEYS: the token hash of each scope counting tokens, then each budget scope's spend counter and
#: reservations, in pairs. ARGV: T (token hashes), the second's start (ms), the hashes' TTL (ms),
#: tokens, reservation id ('' for none), cost (units) -> reservations released
SETTLE = (
    _FUNCTIONS
    + """
local hashes, tokens = tonumber(ARGV[1]), tonumber(ARGV[4])
if tokens > 0 then
  for i = 1, hashes do
    redis.call('HINCRBY', KEYS[i], ARGV[2], ARGV[4])
    redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[3]))
  end
end
if ARGV[5] == '' then return 0 end
return budget_settle(hashes + 1, (#KEYS - hashes) / 2, ARGV[5], ARGV[6])
"""
)

#: KEYS: reservations hashes; ARGV: id, amount, deadline_ms, ttl_ms
RENEW = """
for i = 1, #KEYS do
  if redis.call('HEXISTS', KEYS[i], ARGV[1]) == 1 then
    redis.call('HSET', KEYS[i], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
    redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[4]))
  end
end
return 0
"""
