-- wrk script for scripts/bench-ingress: every request is a new GitHub delivery, a unique body
-- (the fixture plus a per-thread counter in its last field) with a fresh delivery id, signed
-- with the webhook secret.
--
-- Why SHA-256 by hand: wrk's LuaJIT has no crypto library, and signing 21 KB per request in
-- Lua would make the generator the bottleneck. The body is a fixed prefix, padded to whole
-- 64-byte blocks, and a short tail, so HMAC-SHA256 is the saved state after the prefix plus
-- two compressions per request (the inner hash's tail, the outer hash).
--
-- Args (after `--`): <body prefix file> <webhook secret>. Prints one JSON line at the end.
local bit = require("bit")
local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local lshift, rshift, ror, tobit, tohex = bit.lshift, bit.rshift, bit.ror, bit.tobit, bit.tohex

local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
for i = 1, 64 do K[i] = tobit(K[i]) end
local IV = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }
for i = 1, 8 do IV[i] = tobit(IV[i]) end

local W = {}
-- One SHA-256 compression of the 64 bytes of `s` from `off` (1-based) into state `H`.
local function compress(H, s, off)
  for i = 0, 15 do
    local a, b, c, d = s:byte(off + i * 4, off + i * 4 + 3)
    W[i] = bor(lshift(a, 24), lshift(b, 16), lshift(c, 8), d)
  end
  for i = 16, 63 do
    local w15, w2 = W[i - 15], W[i - 2]
    local s0 = bxor(ror(w15, 7), ror(w15, 18), rshift(w15, 3))
    local s1 = bxor(ror(w2, 17), ror(w2, 19), rshift(w2, 10))
    W[i] = tobit(W[i - 16] + s0 + W[i - 7] + s1)
  end
  local a, b, c, d, e, f, g, h = H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8]
  for i = 0, 63 do
    local t1 = tobit(h + bxor(ror(e, 6), ror(e, 11), ror(e, 25)) + bxor(band(e, f), band(bnot(e), g))
      + K[i + 1] + W[i])
    local t2 = tobit(bxor(ror(a, 2), ror(a, 13), ror(a, 22)) + bxor(band(a, b), band(a, c), band(b, c)))
    h, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + t2)
  end
  H[1], H[2], H[3], H[4] = tobit(H[1] + a), tobit(H[2] + b), tobit(H[3] + c), tobit(H[4] + d)
  H[5], H[6], H[7], H[8] = tobit(H[5] + e), tobit(H[6] + f), tobit(H[7] + g), tobit(H[8] + h)
end

local function be32(x)
  return string.char(band(rshift(x, 24), 255), band(rshift(x, 16), 255), band(rshift(x, 8), 255), band(x, 255))
end

-- Finishes a hash whose state `H` has absorbed `done` bytes (a multiple of 64) with `rest`.
local function finish(H, done, rest)
  local S = { H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8] }
  local bits = (done + #rest) * 8
  local zeros = (55 - #rest) % 64
  local tail = rest .. "\128" .. string.rep("\0", zeros) .. be32(math.floor(bits / 2 ^ 32)) .. be32(bits % 2 ^ 32)
  for off = 1, #tail, 64 do compress(S, tail, off) end
  return S
end

local function state_after(blocks)
  local H = { IV[1], IV[2], IV[3], IV[4], IV[5], IV[6], IV[7], IV[8] }
  for off = 1, #blocks, 64 do compress(H, blocks, off) end
  return H
end

local function pad_key(secret, byte)
  local out = {}
  for i = 1, 64 do out[i] = string.char(bxor(secret:byte(i) or 0, byte)) end
  return table.concat(out)
end

local prefix, inner, outer, thread_id, sent = nil, nil, nil, 0, 0
accepted = 0 -- global: done() reads it from each thread with thread:get
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  prefix = file:read("*a")
  file:close()
  assert(#prefix % 64 == 0, "the body prefix must be whole 64-byte blocks")
  inner = state_after(pad_key(args[2], 0x36) .. prefix)
  outer = state_after(pad_key(args[2], 0x5c))
  thread_id = wrk.thread:get("id")
  wrk.method = "POST"
end

function request()
  sent = sent + 1
  local tail = thread_id .. "-" .. sent .. '"}'
  local digest = finish(inner, 64 + #prefix, tail)
  local inner_bytes = {}
  for i = 1, 8 do inner_bytes[i] = be32(digest[i]) end
  local mac = finish(outer, 64, table.concat(inner_bytes))
  local hex = {}
  for i = 1, 8 do hex[i] = tohex(mac[i], 8) end
  return wrk.format(nil, nil, {
    ["Content-Type"] = "application/json",
    ["X-GitHub-Event"] = "pull_request",
    ["X-GitHub-Delivery"] = "bench-" .. thread_id .. "-" .. sent,
    ["X-Hub-Signature-256"] = "sha256=" .. table.concat(hex),
  }, prefix .. tail)
end

function response(status)
  if status >= 200 and status < 300 then accepted = accepted + 1 end
end

function done(summary, latency)
  local ok = 0
  for _, thread in ipairs(threads) do ok = ok + thread:get("accepted") end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"accepted":%d,"seconds":%.3f,"p50_us":%d,"p99_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, ok, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
