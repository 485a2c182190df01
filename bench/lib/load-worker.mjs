// The load generator: a child process of bench/run.mjs (its own process, so it runs on the other
// core), driven over IPC. It runs autocannon through its programmatic API and records every
// response's latency at 1 µs resolution (autocannon's own histogram keeps whole milliseconds).
// Every job is bounded in count and time.
import autocannon from 'autocannon'
import { cpuMs } from './stats.mjs'

const HIST_US = 2_000_000 // 1 µs buckets up to 2 s; slower responses go to the last bucket

/** A latency histogram in µs. */
function histogram() {
  const buckets = new Uint32Array(HIST_US + 1)
  let count = 0
  let sum = 0
  return {
    record(ms) {
      const us = Math.min(HIST_US, Math.max(0, Math.round(ms * 1000)))
      buckets[us]++
      count++
      sum += us
    },
    summary() {
      const at = (q) => {
        if (count === 0) return null
        const rank = Math.ceil(q * count)
        let seen = 0
        for (let i = 0; i <= HIST_US; i++) {
          seen += buckets[i]
          if (seen >= rank) return i
        }
        return HIST_US
      }
      return { count, meanUs: count ? sum / count : null, p50Us: at(0.5), p90Us: at(0.9), p99Us: at(0.99), maxUs: at(1) }
    },
  }
}

/** Cookie header values taken round-robin, shared by all connections of one run. */
function rotation(cookies) {
  let i = 0
  return () => cookies[i++ % cookies.length]
}

/**
 * One load run. `paths` are requested in turn by each connection; with `cookies`, every request
 * carries the next one. Ends after `duration` seconds, or after `amount` requests, and in any
 * case after `maxSeconds`.
 */
function load({ url, paths, cookies, duration, amount, connections = 10, maxSeconds }, latency = histogram(), next = cookies?.length ? rotation(cookies) : undefined) {
  const requests = paths.map(path => ({
    method: 'GET',
    path,
    ...(next ? { setupRequest: req => ({ ...req, headers: { ...req.headers, cookie: next() } }) } : {}),
  }))
  const statuses = {}
  let ok = 0
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    let cap
    const instance = autocannon({
      url,
      connections,
      pipelining: 1,
      requests,
      ...(amount ? { amount } : { duration }),
      timeout: 10,
    }, (error, result) => {
      clearTimeout(cap)
      if (error) return reject(error)
      const elapsed = Number(process.hrtime.bigint() - started) / 1e9
      // autocannon's duration covers the sending window; ours adds its set-up (a few ms).
      const seconds = result.duration || elapsed
      resolve({
        requests: ok + Object.entries(statuses).filter(([s]) => !s.startsWith('2')).reduce((a, [, n]) => a + n, 0),
        ok,
        statuses,
        errors: result.errors || 0,
        timeouts: result.timeouts || 0,
        seconds,
        rps: ok / seconds,
        ...latency.summary(),
      })
    })
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      statuses[statusCode] = (statuses[statusCode] || 0) + 1
      if (statusCode >= 200 && statusCode < 300) {
        ok++
        latency.record(responseTime)
      }
    })
    cap = setTimeout(() => instance.stop(), Math.max(1, maxSeconds ?? (duration ?? 60) + 30) * 1000)
  })
}

/** The `name=value` pairs of a response's Set-Cookie headers (those that are not deletions). */
function cookiePairs(setCookies) {
  return setCookies
    .filter(line => !/;\s*max-age=0(?:;|$)/i.test(line) && !/expires=thu, 01 jan 1970/i.test(line))
    .map(line => line.split(';')[0].trim())
    .join('; ')
}

/**
 * `count` first visits to `path` without a cookie, `concurrency` at a time: returns the cookie
 * header that each response's Set-Cookie asks the client to send back.
 */
async function sessions({ url, path, count, concurrency = 10, maxSeconds = 60 }) {
  const deadline = Date.now() + maxSeconds * 1000
  const cookies = []
  const failures = []
  let sample
  let issued = 0
  const worker = async () => {
    while (issued < count && Date.now() < deadline) {
      issued++
      const res = await fetch(url + path, { signal: AbortSignal.timeout(10_000) })
      const body = await res.text()
      const setCookies = res.headers.getSetCookie()
      sample ??= { status: res.status, setCookie: setCookies, body }
      const pair = cookiePairs(setCookies)
      if (res.ok && pair) cookies.push(pair)
      else if (failures.length < 5) failures.push({ status: res.status, body: body.slice(0, 200) })
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return { cookies, failures, sample }
}

/** One request, everything about its response. */
async function probe({ url, path, cookie }) {
  const res = await fetch(url + path, { headers: cookie ? { cookie } : {}, signal: AbortSignal.timeout(10_000) })
  return { status: res.status, setCookie: res.headers.getSetCookie(), body: await res.text() }
}

/**
 * Two servers measured in turn, in `slices` alternating slices of `sliceSeconds` each (whole
 * seconds; b, a, a, b, b, a, ...: each server as often first as second), so that both see the same moments of a
 * machine whose speed drifts. Returns each one's runs merged: requests, seconds and one latency
 * histogram over all its slices.
 */
async function alternate({ a, b, slices, sliceSeconds, connections = 10 }) {
  const cpu = {}
  const sides = { a: { job: a, latency: histogram(), next: a.cookies?.length ? rotation(a.cookies) : undefined, runs: [] }, b: { job: b, latency: histogram(), next: b.cookies?.length ? rotation(b.cookies) : undefined, runs: [] } }
  for (let i = 0; i < slices; i++) {
    const order = i % 2 === 0 ? ['b', 'a'] : ['a', 'b']
    for (const name of order) {
      const side = sides[name]
      // The server's CPU during its own slices only: both sides may be one process (a peer
      // measured against the bare routes of the same app).
      const before = side.job.pid ? await cpuMs(side.job.pid) : 0
      // autocannon ends a run on its 1 s ticks: slices are whole seconds.
      side.runs.push(await load({ ...side.job, cookies: undefined, duration: Math.max(1, Math.round(sliceSeconds)), connections, maxSeconds: sliceSeconds + 20 }, side.latency, side.next))
      if (side.job.pid) cpu[name] = (cpu[name] ?? 0) + (await cpuMs(side.job.pid)) - before
    }
  }
  const merged = (side) => {
    const statuses = {}
    for (const run of side.runs) {
      for (const [status, n] of Object.entries(run.statuses)) statuses[status] = (statuses[status] || 0) + n
    }
    const sum = key => side.runs.reduce((n, run) => n + (run[key] || 0), 0)
    const seconds = sum('seconds')
    return { requests: sum('requests'), ok: sum('ok'), statuses, errors: sum('errors'), timeouts: sum('timeouts'), seconds, rps: sum('ok') / seconds, ...side.latency.summary(), slices: side.runs.map(run => run.rps) }
  }
  return { a: { ...merged(sides.a), cpuMs: cpu.a }, b: { ...merged(sides.b), cpuMs: cpu.b } }
}

const jobs = { load, sessions, probe, alternate }

process.on('message', async ({ id, type, args }) => {
  try {
    process.send({ id, result: await jobs[type](args) })
  }
  catch (error) {
    process.send({ id, error: String(error?.stack || error) })
  }
})
process.on('disconnect', () => process.exit(0))
