/**
 * The Lua scripts that make every store operation one atomic transition on
 * Redis. They reproduce, step for step, core's in-memory reference
 * implementation (`packages/core/src/internal/breakerMemory.ts` and
 * `budgetMemory.ts`): same fields, same arithmetic on doubles, same order.
 *
 * Numbers cross the Lua boundary as strings formatted with `%.17g`, which
 * round-trips every double exactly (Redis would truncate a Lua number returned
 * to the client to an integer, and format one passed to `redis.call` with only
 * 14 digits).
 *
 * A value under one of our keys that is not what we wrote (another type, an
 * unknown state, a field that is not a number) is treated as absent: the key
 * is deleted and the script's last result element is `"corrupt"`, so that the
 * caller can report it.
 */
import { createHash } from "node:crypto"

/** A script with its SHA1, as `EVALSHA` wants it. */
export interface Script {
  readonly lua: string
  readonly sha: string
}

const script = (lua: string): Script => ({
  lua,
  sha: createHash("sha1").update(lua).digest("hex")
})

// ---------------------------------------------------------------------------
// Circuit breaker
// ---------------------------------------------------------------------------

/**
 * KEYS[1]: the breaker hash. Fields: s (state: C, O, H, I), cf (consecutive
 * failures), oa (opened at), u (until), n (opens in a row), p (probes in
 * flight), sc (probe successes), w (ratio window: `start:successes:failures`
 * buckets separated by `;`), pa (when the last probe was admitted; absent in
 * hashes written before it existed, read as 0).
 *
 * ARGV: 1 now, 2 key TTL ms, 3 trip kind (C or R), 4 threshold or ratio,
 * 5 window ms, 6 minimum throughput, 7 buckets, 8 half-open probes,
 * 9 successes to close, 10 break durations ms (comma separated); for
 * `record`: 11 outcome (S or F), 12 probe (1 or 0); for `admit`: 11 probe
 * lease ms. `release`, `isolate`, `reset` and `state` read only 1 and 2, and
 * are sent only those.
 *
 * Probe lease (Redis only: the memory store has no such state). A probe slot
 * taken in Redis is given back by its caller's `record` or `release`; a
 * caller that never sends one (its `admit` timed out locally yet ran in
 * Redis, Redis was unreachable when it recorded, its process crashed) would
 * hold the slot forever, and every process would be refused while the
 * breaker stays half-open. So when every slot is taken and the last probe was
 * admitted at least a lease ago, `admit` starts the half-open round again
 * (no probes in flight, no successes) and admits this call as its probe.
 *
 * Every script returns `{ result, number, from, to, until, corrupt }`.
 */
const breakerPrelude = `
local K = KEYS[1]
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local corrupt = ""

local function fmt(x) return string.format("%.17g", x) end

local function fresh()
  return { s = "C", cf = 0, oa = 0, u = 0, n = 0, p = 0, sc = 0, w = {}, pa = 0 }
end

local function parseWindow(raw)
  local buckets = {}
  if raw == "" then return buckets end
  for part in string.gmatch(raw, "[^;]+") do
    local a, b, c = string.match(part, "^([^:]+):([^:]+):([^:]+)$")
    local start, successes, failures = tonumber(a), tonumber(b), tonumber(c)
    if start == nil or successes == nil or failures == nil then return nil end
    buckets[#buckets + 1] = { start = start, s = successes, f = failures }
  end
  return buckets
end

local states = { C = true, O = true, H = true, I = true }

local function load()
  local kind = redis.call("TYPE", K)["ok"]
  if kind == "none" then return fresh(), false end
  if kind == "hash" then
    local r = redis.call("HMGET", K, "s", "cf", "oa", "u", "n", "p", "sc", "w", "pa")
    local e = { s = r[1], cf = tonumber(r[2]), oa = tonumber(r[3]), u = tonumber(r[4]), n = tonumber(r[5]),
      p = tonumber(r[6]), sc = tonumber(r[7]), pa = 0 }
    if r[8] then e.w = parseWindow(r[8]) end
    if r[9] then e.pa = tonumber(r[9]) end
    if states[e.s] and e.cf and e.oa and e.u and e.n and e.p and e.sc and e.w and e.pa then return e, true end
  end
  redis.call("DEL", K)
  corrupt = "corrupt"
  return fresh(), false
end

-- How long the key must live: the TTL, or while open, until a minute after its break ends (an open
-- breaker must not close early because nobody called it for a TTL shorter than its break).
local function keep(e)
  local ms = ttl
  if e.s == "O" and e.u - now + 60000 > ms then ms = e.u - now + 60000 end
  return math.ceil(ms)
end

local function save(e)
  local parts = {}
  for i, b in ipairs(e.w) do parts[i] = fmt(b.start) .. ":" .. fmt(b.s) .. ":" .. fmt(b.f) end
  redis.call("HSET", K, "s", e.s, "cf", fmt(e.cf), "oa", fmt(e.oa), "u", fmt(e.u), "n", fmt(e.n),
    "p", fmt(e.p), "sc", fmt(e.sc), "w", table.concat(parts, ";"), "pa", fmt(e.pa))
  redis.call("PEXPIRE", K, keep(e))
end

local function touch(e, exists)
  if exists then redis.call("PEXPIRE", K, keep(e)) end
end

local function settings()
  local durations = {}
  for d in string.gmatch(ARGV[10], "[^,]+") do durations[#durations + 1] = tonumber(d) end
  return {
    trip = ARGV[3], threshold = tonumber(ARGV[4]), windowMillis = tonumber(ARGV[5]),
    minimumThroughput = tonumber(ARGV[6]), buckets = tonumber(ARGV[7]),
    halfOpenProbes = tonumber(ARGV[8]), successesToClose = tonumber(ARGV[9]), durations = durations
  }
end

local function breakDuration(st, opens)
  local d = st.durations[math.min(opens, #st.durations)]
  if d == nil then return 0 end
  return d
end

local function open(e, st)
  local from = e.s
  e.s = "O"
  e.n = e.n + 1
  e.oa = now
  e.u = now + breakDuration(st, e.n)
  e.p = 0
  e.sc = 0
  save(e)
  return { "T", "", from, "O", fmt(e.u), corrupt }
end

local function close(e)
  redis.call("DEL", K)
  return { "T", "", e.s, "C", "", corrupt }
end

local function none()
  return { "N", "", "", "", "", corrupt }
end
`

/** `admit`: admits or rejects a call, half-opening an open breaker whose break is over. */
export const breakerAdmit = script(
  breakerPrelude + `
local e, exists = load()
if e.s == "C" then
  touch(e, exists)
  return { "A", "", "", "", "", corrupt }
end
if e.s == "I" then
  touch(e, exists)
  return { "RI", "", "", "", "", corrupt }
end
local from = ""
if e.s == "O" then
  if now < e.u then
    touch(e, exists)
    return { "RO", fmt(e.u), "", "", "", corrupt }
  end
  e.s = "H"
  e.p = 0
  e.sc = 0
  from = "O"
end
local st = settings()
local to = ""
if from ~= "" then to = "H" end
if e.p >= st.halfOpenProbes and now >= e.pa + tonumber(ARGV[11]) then
  -- Every slot is held by a probe admitted a lease ago or more: presumed lost; start the round again.
  e.p = 0
  e.sc = 0
end
if e.p < st.halfOpenProbes then
  e.p = e.p + 1
  e.pa = now
  save(e)
  return { "P", "", from, to, "", corrupt }
end
-- Refused: nothing changed, and the key is not kept alive (only a transition is written).
if from ~= "" then save(e) end
return { "RH", fmt(now), from, to, "", corrupt }
`
)

/** `record`: the outcome of an admitted call. */
export const breakerRecord = script(
  breakerPrelude + `
local e, exists = load()
local st = settings()
local failure = ARGV[11] == "F"
if ARGV[12] == "1" then
  if e.s ~= "H" then return none() end
  e.p = math.max(0, e.p - 1)
  if failure then return open(e, st) end
  e.sc = e.sc + 1
  if e.sc >= st.successesToClose then return close(e) end
  save(e)
  return none()
end
if e.s ~= "C" then return none() end
if st.trip == "C" then
  local before = e.cf
  if failure then e.cf = e.cf + 1 else e.cf = 0 end
  if e.cf >= st.threshold then return open(e, st) end
  -- A success on a breaker with no failures changes nothing: no write, no key made.
  if e.cf ~= before then save(e) else touch(e, exists) end
  return none()
end
local width = st.windowMillis / math.max(1, st.buckets)
local start = math.floor(now / width) * width
local buckets = e.w
while #buckets > 0 and buckets[1].start <= now - st.windowMillis do table.remove(buckets, 1) end
local bucket = buckets[#buckets]
if bucket == nil or bucket.start ~= start then
  bucket = { start = start, s = 0, f = 0 }
  buckets[#buckets + 1] = bucket
end
if failure then bucket.f = bucket.f + 1 else bucket.s = bucket.s + 1 end
if not failure then
  save(e)
  return none()
end
local failures = 0
local total = 0
for _, b in ipairs(buckets) do
  failures = failures + b.f
  total = total + b.f + b.s
end
if total >= st.minimumThroughput and failures / total >= st.threshold then return open(e, st) end
save(e)
return none()
`
)

/** `release`: frees a probe slot. */
export const breakerRelease = script(
  breakerPrelude + `
local e, exists = load()
if exists and e.s == "H" then
  e.p = math.max(0, e.p - 1)
  save(e)
end
return none()
`
)

/** `isolate`: holds the breaker open until `reset`. */
export const breakerIsolate = script(
  breakerPrelude + `
local e, exists = load()
if e.s == "I" then
  touch(e, exists)
  return none()
end
local from = e.s
local isolated = fresh()
isolated.s = "I"
save(isolated)
return { "T", "", from, "I", "", corrupt }
`
)

/** `reset`: closes the breaker and forgets its history. */
export const breakerReset = script(
  breakerPrelude + `
local e, exists = load()
if e.s == "C" then
  redis.call("DEL", K)
  return none()
end
return close(e)
`
)

/** `state`: the breaker's fields, for `StateStore.BreakerStore.state`: `{ s, oa, u, n, p, sc, corrupt }`. */
export const breakerState = script(
  breakerPrelude + `
local e, exists = load()
return { e.s, fmt(e.oa), fmt(e.u), fmt(e.n), fmt(e.p), fmt(e.sc), corrupt }
`
)

// ---------------------------------------------------------------------------
// Retry budget
// ---------------------------------------------------------------------------

/**
 * KEYS: 1 the budget hash (t: tokens; w: a ratio window's slices,
 * `start:requests:retries` separated by `;`). KEYS 2 and 3 (the sorted sets of
 * request and retry times that ratio budgets kept before they counted in
 * slices) are no longer written; keys left by an older version expire with
 * their TTL.
 *
 * ARGV: 1 operation (record, withdraw, refund, level), 2 now, 3 key TTL ms,
 * 4 kind (T or R), 5 max tokens or ratio, 6 token ratio or minimum retries per
 * second, 7 window ms, 8 event (Request, Success, Failure) for `record`, the
 * time the retry was withdrawn for `refund`.
 *
 * A ratio window is counted in 10 slices of `window / 10`, as in
 * `budgetMemory.ts` (`slicesPerWindow`): a slice leaves the window once its
 * start is `window` old, and a time before the newest slice counts in it.
 *
 * Returns `{ value, corrupt }`: for `withdraw` "1" or "0", for `level` the
 * level, for `record` and `refund` "".
 */
export const budget = script(
  `
local H = KEYS[1]
local op = ARGV[1]
local now = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local kind = ARGV[4]
local corrupt = ""

local function fmt(x) return string.format("%.17g", x) end

local function check(key, expected)
  local t = redis.call("TYPE", key)["ok"]
  if t ~= "none" and t ~= expected then
    redis.call("DEL", key)
    corrupt = "corrupt"
  end
end

check(H, "hash")
if kind == "T" then
  local maxTokens = tonumber(ARGV[5])
  local tokenRatio = tonumber(ARGV[6])
  local raw = redis.call("HGET", H, "t")
  local tokens = maxTokens
  if raw then
    local parsed = tonumber(raw)
    if parsed == nil then
      redis.call("DEL", H)
      corrupt = "corrupt"
    else
      tokens = parsed
    end
  end
  if op == "record" then
    local event = ARGV[8]
    local next = nil
    if event == "Failure" then next = math.max(0, tokens - 1) end
    -- A success on a full bucket (no field) leaves it full: no write, no key made.
    if event == "Success" and raw and corrupt == "" then next = math.min(maxTokens, tokens + tokenRatio) end
    if next ~= nil then
      redis.call("HSET", H, "t", fmt(next))
      redis.call("PEXPIRE", H, ttl)
    end
    return { "", corrupt }
  end
  if op == "withdraw" then
    if tokens > maxTokens / 2 then return { "1", corrupt } end
    return { "0", corrupt }
  end
  -- A token bucket counts nothing when it grants a retry: nothing to give back.
  if op == "refund" then return { "", corrupt } end
  return { fmt(tokens), corrupt }
end

-- A ratio budget counts requests only; outcomes say nothing to it.
if op == "record" and ARGV[8] ~= "Request" then return { "", corrupt } end

local ratio = tonumber(ARGV[5])
local minRetriesPerSecond = tonumber(ARGV[6])
local windowMillis = tonumber(ARGV[7])
local width = windowMillis / 10
local keep = math.max(ttl, windowMillis)

local slices = {}
local raw = redis.call("HGET", H, "w")
if raw and raw ~= "" then
  for part in string.gmatch(raw, "[^;]+") do
    local a, b, c = string.match(part, "^([^:]+):([^:]+):([^:]+)$")
    local start, requests, retries = tonumber(a), tonumber(b), tonumber(c)
    if start == nil or requests == nil or retries == nil then
      redis.call("DEL", H)
      corrupt = "corrupt"
      slices = {}
      break
    end
    slices[#slices + 1] = { start = start, q = requests, r = retries }
  end
end

local changed = false
while #slices > 0 and slices[1].start <= now - windowMillis do
  table.remove(slices, 1)
  changed = true
end

local function save()
  local parts = {}
  for i, s in ipairs(slices) do parts[i] = fmt(s.start) .. ":" .. fmt(s.q) .. ":" .. fmt(s.r) end
  redis.call("HSET", H, "w", table.concat(parts, ";"))
  redis.call("PEXPIRE", H, keep)
end

local function current()
  local start = math.floor(now / width) * width
  local last = slices[#slices]
  if last ~= nil and start <= last.start then return last end
  last = { start = start, q = 0, r = 0 }
  slices[#slices + 1] = last
  return last
end

local function allowance()
  local requests, retries = 0, 0
  for _, s in ipairs(slices) do
    requests = requests + s.q
    retries = retries + s.r
  end
  return math.floor(ratio * requests + minRetriesPerSecond * windowMillis / 1000) - retries
end

if op == "record" then
  local slice = current()
  slice.q = slice.q + 1
  save()
  return { "", corrupt }
end
if op == "refund" then
  local start = math.floor(tonumber(ARGV[8]) / width) * width
  for _, s in ipairs(slices) do
    if s.start == start and s.r > 0 then
      s.r = s.r - 1
      changed = true
      break
    end
  end
  if changed then save() end
  return { "", corrupt }
end
local left = allowance()
if op == "withdraw" then
  if left < 1 then
    if changed then save() end
    return { "0", corrupt }
  end
  local slice = current()
  slice.r = slice.r + 1
  save()
  return { "1", corrupt }
end
if changed then save() end
return { fmt(math.max(0, left)), corrupt }
`
)

// ---------------------------------------------------------------------------
// Rate limiter (`@effect/experimental`'s `RateLimiterStore`)
// ---------------------------------------------------------------------------

/**
 * `@effect/experimental`'s Redis rate-limiter scripts (`RateLimiter/Redis.ts`), with the same keys and the
 * same answers, so that buckets written by either store are read alike. The one change: the token bucket's
 * `:refill` companion key is passed in `KEYS` rather than built in the script, as Redis Cluster requires.
 * (That store makes its own ioredis client and gives no access to it, so it cannot be given the listeners and
 * the timeout this package's store needs.)
 *
 * `fixedWindow`: KEYS[1] the counter; ARGV: 1 tokens, 2 refill ms, 3 limit (optional). Returns
 * `{ count, ttl ms }`; past the limit the count is returned without being stored.
 */
export const fixedWindow = script(`
local key = KEYS[1]
local tokens = tonumber(ARGV[1])
local refillms = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local current = tonumber(redis.call("GET", key))

if not current then
  local nextpttl = refillms * tokens
  redis.call("SET", key, tokens, "PX", nextpttl)
  return { tokens, nextpttl }
end

local currentpttl = tonumber(redis.call("PTTL", key) or "0")
local next = current + tokens
if limit and next > limit then
  return { next, currentpttl }
end

local nextpttl = currentpttl + (refillms * tokens)
redis.call("SET", key, next, "PX", nextpttl)
return { next, nextpttl }
`)

/**
 * `tokenBucket`: KEYS[1] the bucket, KEYS[2] its last refill; ARGV: 1 tokens, 2 refill ms, 3 limit, 4 now,
 * 5 overflow (1 or 0). Returns the tokens left (negative when the request exceeds them; stored below zero only
 * with overflow).
 */
export const tokenBucket = script(`
local key = KEYS[1]
local last_refill_key = KEYS[2]
local tokens = tonumber(ARGV[1])
local refill_ms = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local overflow = ARGV[5] == "1"
local current = tonumber(redis.call("GET", key))
local last_refill = tonumber(redis.call("GET", last_refill_key))

if not current then
  current = limit
  last_refill = now
  redis.call("SET", key, current)
  redis.call("SET", last_refill_key, last_refill)
end

local elapsed = now - last_refill
local refill_amount = math.floor(elapsed / refill_ms)
if refill_amount > 0 then
  current = math.min(current + refill_amount, limit)
  last_refill = last_refill + (refill_amount * refill_ms)
  redis.call("SET", last_refill_key, last_refill)
end

local next = current - tokens
if next < 0 and not overflow then
  redis.call("SET", key, current)
  return next
end

redis.call("SET", key, next)
return next
`)

/** Every script, for loading them when a connection is made. */
export const all: ReadonlyArray<Script> = [
  breakerAdmit,
  breakerRecord,
  breakerRelease,
  breakerIsolate,
  breakerReset,
  breakerState,
  budget
]
