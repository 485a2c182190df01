// `npm run bench` (default: 6 cycles of 2 s per scenario, each target bracketed by its bare
// app, growth to 100k sessions and CPU profiles, about 45 minutes on 2 cores) and
// `npm run bench -- --quick` (1 cycle of 2 s, no peers, no growth, about 5 minutes once the
// apps are built; the first run builds them and dist/, about 2 minutes).
// Flags: --rebuild, --only=<server,...> (server names as in bench/lib/apps.mjs, e.g.
// --only=baseline,module-postgres: only their apps are built, and each target still needs its
// baseline's server to get a ratio), --cycles=N, --duration=S, --warmup=S (the longest
// warm-up), --growth=N, --no-growth, --profile, --profile-servers=<server,...> (CPU profiles
// of those, reads and writes, instead of the bare Nuxt app and module-memory), --no-profile,
// --out=<dir>, --previous=<results.json> (RESULTS.md then says how far each ratio moved from
// that earlier run's), --no-pin (the server is pinned to its own core by default), --help.
//
// Builds the apps under bench/apps (only those that changed), starts the benchmark's own
// redis-server and its own PostgreSQL (bench/lib/postgres.mjs: a private initdb on a free port,
// default durable settings, pg_stat_statements to count statements; left out, with its targets,
// when no PostgreSQL is installed or no planned server needs it), then, per cycle, starts each
// server in turn on a free loopback port, creates 1,000 sessions per target, warms it up,
// measures each scenario with autocannon (in a child process, 10 connections) and stops it.
// Medians over the cycles go to bench/results.json and bench/RESULTS.md (a quick run writes
// under bench/.tmp/quick/ instead), with the cost of cookie parsing on normal and hostile
// headers (bench/lib/cookie-parse.mjs), timed in this process.
//
// Targets (bench/lib/apps.mjs): the Nuxt module on SQLite (zero config), memory, Redis
// (RedisSessionStore and an unstorage mount) and PostgreSQL (PostgresSessionStore through
// NUXT_SESSION_POSTGRES_URL, `module-postgres`); the Nitro 2 module on SQLite; the Nitro 3
// module on SQLite, Redis and PostgreSQL (`nitro3-module-postgres`); plain h3 2 with
// nuxt-server-session/h3 on memory, SQLite and PostgresSessionStore (`h3-v2-postgres`), plain
// h3 1 on memory and SQLite; each against the bare app of its generation; and the peers.
import { execFileSync, fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startServer, stopAll } from '../test/support/process.ts'
import { ROOT, SECRET, buildAll, entryOf, servers } from './lib/apps.mjs'
import { cookieParseLines, measureCookieParse } from './lib/cookie-parse.mjs'
import { measureSqliteOptions, sqliteOptionsLines } from './lib/sqlite-options.mjs'
import { connectInspector } from './lib/inspector.mjs'
import { summarizeProfile } from './lib/profile.mjs'
import { postgresAvailable, startPostgres } from './lib/postgres.mjs'
import { startRedis } from './lib/redis.mjs'
import { renderResults, summarize } from './lib/report.mjs'
import { cpuMs, sleep } from './lib/stats.mjs'

const { values: flags } = parseArgs({
  options: {
    'quick': { type: 'boolean', default: false },
    'rebuild': { type: 'boolean', default: false },
    'only': { type: 'string' },
    'cycles': { type: 'string' },
    'duration': { type: 'string' },
    'warmup': { type: 'string' },
    'growth': { type: 'string' },
    'no-growth': { type: 'boolean', default: false },
    'profile': { type: 'boolean', default: false },
    'no-profile': { type: 'boolean', default: false },
    'out': { type: 'string' },
    'previous': { type: 'string' },
    'no-pin': { type: 'boolean', default: false },
    'profile-servers': { type: 'string' },
    'help': { type: 'boolean', default: false },
  },
})
if (flags.help) {
  const text = await readFile(new URL(import.meta.url), 'utf8')
  console.log(text.slice(0, text.indexOf('\nimport ')).replace(/^\/\/ ?/gm, ''))
  process.exit(0)
}

// The full run: 87 scenarios x 6 cycles of 2 s each (the 53 targets with a bare app of their
// generation also time that bare app for 2 s around them), adaptive warm-ups, the growth test
// and the profiles, in a 45-minute budget on 2 cores; `budgetSeconds` shortens later cycles
// when the first ones ran slow (a busy machine), to 1 s per scenario at the least. Six cycles,
// not three: each cycle is a fresh set of processes, so cycles are the independent samples of a
// ratio, and two runs of the same code whose ranges are min-max over n cycles miss each other by
// chance alone with a probability of 2 / C(2n, n): 1 in 10 at three cycles (about 7 of 66
// ratios expected; two full three-cycle runs missed on 5), 1 in 462 at six.
const MODE = flags.quick
  ? { name: 'quick', cycles: 1, duration: 2, warmup: 4, sessions: 1000, growthTo: 0, growthMaxSeconds: 0, monitorSample: 50, peers: false, autoProfile: false, quietSeconds: 10, budgetSeconds: 360 }
  : { name: 'full', cycles: 6, duration: 2, warmup: 4, sessions: 1000, growthTo: 100_000, growthMaxSeconds: 60, monitorSample: 200, peers: true, autoProfile: true, quietSeconds: 30, budgetSeconds: 2700 }
if (flags.cycles) MODE.cycles = Number(flags.cycles)
if (flags.duration) MODE.duration = Number(flags.duration)
if (flags.warmup) MODE.warmup = Number(flags.warmup)
if (flags.growth) {
  MODE.growthTo = Number(flags.growth)
  MODE.growthMaxSeconds ||= 60
}
if (flags['no-growth']) MODE.growthTo = 0
const CONNECTIONS = 10
const OUT = flags.out ? join(process.cwd(), flags.out) : flags.quick ? join(ROOT, 'bench/.tmp/quick') : join(ROOT, 'bench')
const TMP = join(ROOT, 'bench/.tmp')
const only = flags.only ? new Set(flags.only.split(',')) : undefined
/** The benchmark's PostgreSQL, when a planned server needs it (see main). */
let postgres

const t0 = Date.now()
const log = message => console.log(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${message}`)

// ---------------------------------------------------------------------------------------------
// Cores: the server under test gets the last core to itself; the load generator, this process
// and the benchmark's Redis share the others (`taskset`), so that the server's figures do not
// depend on where the scheduler put the load generator. Off with --no-pin, or without taskset
// or a second core.

const PIN = (() => {
  if (flags['no-pin'] || availableParallelism() < 2) return undefined
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' })
  }
  catch {
    return undefined
  }
  const last = availableParallelism() - 1
  return { server: String(last), others: last === 1 ? '0' : `0-${last - 1}` }
})()

/** The commit measured (with "+changes" when the tree has uncommitted ones), if this is a git checkout. */
function gitCommit() {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).trim()
    return dirty ? `${head}+changes` : head
  }
  catch {
    return undefined
  }
}

/** Moves a running process, all its threads, to `cores`. */
function pinTo(pid, cores) {
  if (PIN && pid) execFileSync('taskset', ['-a', '-p', '-c', cores, String(pid)], { stdio: 'ignore' })
}

// ---------------------------------------------------------------------------------------------
// The load generator, in its own process.

const worker = fork(join(ROOT, 'bench/lib/load-worker.mjs'), [], { execPath: process.execPath, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
pinTo(worker.pid, PIN?.others)
let nextId = 0
const pending = new Map()
worker.on('message', ({ id, result, error }) => {
  const job = pending.get(id)
  pending.delete(id)
  if (error) job?.reject(new Error(error))
  else job?.resolve(result)
})
function call(type, args) {
  const id = ++nextId
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject })
    worker.send({ id, type, args })
  })
}

// ---------------------------------------------------------------------------------------------

async function machine() {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '')
  const meminfo = await readFile('/proc/meminfo', 'utf8').catch(() => '')
  const version = async (pkg) => {
    try {
      return JSON.parse(await readFile(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version
    }
    catch {
      return null
    }
  }
  const versions = {}
  for (const pkg of ['nuxt', 'nitropack', 'h3', 'nitro', 'h3-v2', 'unstorage', 'ioredis', 'pg', 'autocannon', 'nuxt-auth-utils', 'express', 'express-session', 'connect-redis', 'redis', '@scayle/h3-session']) versions[pkg] = await version(pkg)
  return {
    nproc: availableParallelism(),
    cpu: cpuinfo.match(/model name\s*:\s*(.*)/)?.[1] ?? null,
    memoryGiB: Number(((Number(meminfo.match(/MemTotal:\s*(\d+)/)?.[1] ?? 0)) / 1024 / 1024).toFixed(1)),
    loadavgAtStart: loadavg(),
    node: process.version,
    versions,
  }
}

async function rssKiB(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
  return Number(status.match(/VmRSS:\s*(\d+)/)?.[1] ?? 0) || null
}

/** Distinct cookie headers for the bare apps, as long as the module's (`__Host-sid=<id>.<sig>`). */
function dummyCookies(count) {
  return Array.from({ length: count }, () => `__Host-sid=${randomBytes(32).toString('base64url')}.${randomBytes(32).toString('base64url')}`)
}

function byteLength(text) {
  return Buffer.byteLength(text, 'utf8')
}

async function start(server, { redis, extraEnv = {} } = {}) {
  const cwd = join(TMP, 'run', server.name)
  await rm(cwd, { recursive: true, force: true })
  await mkdir(cwd, { recursive: true })
  const env = { NUXT_SESSION_SECRET: SECRET, ...(server.env ?? {}), ...extraEnv }
  for (const target of server.targets) {
    if (target.redisPrefix) await redis.deletePrefix(target.redisPrefix)
    if (target.pgTable) await postgres.dropTable(target.pgTable)
  }
  // taskset execs the server: the process (and its pid) is the server's own.
  return await startServer(entryOf(server.build), { cwd, env, timeout: 30_000, ...(PIN ? { command: ['taskset', '-c', PIN.server, process.execPath] } : {}) })
}

async function stop(server, process_, redis) {
  await process_.stop()
  for (const target of server.targets) {
    if (target.redisPrefix) await redis.deletePrefix(target.redisPrefix)
    if (target.pgTable) await postgres.dropTable(target.pgTable)
  }
}

function pathOf(target, scenario) {
  return scenario === 'lazy' ? target.routes.lazy : scenario === 'read' ? target.routes.read : target.routes.write
}

/** 1,000 sessions (cookies) for a target, plus what its first visit and its reads send back. */
async function prepareTarget(url, target) {
  const first = await call('probe', { url, path: target.routes.write })
  let cookies
  if (target.role === 'baseline') {
    cookies = dummyCookies(MODE.sessions)
  }
  else {
    const made = await call('sessions', { url, path: target.routes.write, count: MODE.sessions, concurrency: CONNECTIONS, maxSeconds: 60 })
    if (made.cookies.length !== MODE.sessions) throw new Error(`${target.id}: made ${made.cookies.length} of ${MODE.sessions} sessions: ${JSON.stringify(made.failures)}`)
    cookies = made.cookies
  }
  // One read per session first: fills the module's verified-cookie cache (and the OS's caches),
  // as a running server's would be, before anything is timed.
  if (target.role !== 'baseline') await call('load', { url, paths: [target.routes.read], cookies, amount: cookies.length, connections: CONNECTIONS, maxSeconds: 30 })
  const read = await call('probe', { url, path: target.routes.read, cookie: cookies[0] })
  const lazy = target.routes.lazy ? await call('probe', { url, path: target.routes.lazy, cookie: cookies[0] }) : undefined
  const sanity = {
    firstVisit: { status: first.status, body: first.body, setCookie: first.setCookie, setCookieBytes: first.setCookie.reduce((n, c) => n + byteLength(c), 0), cookieValueBytes: first.setCookie.reduce((n, c) => n + byteLength(c.split(';')[0].split('=').slice(1).join('=')), 0) },
    read: { status: read.status, body: read.body, setsCookie: read.setCookie.length > 0 },
    ...(lazy ? { lazy: { status: lazy.status, body: lazy.body, setsCookie: lazy.setCookie.length > 0 } } : {}),
  }
  if (read.status !== 200 || first.status !== 200 || (lazy && lazy.status !== 200)) throw new Error(`${target.id}: unexpected status: ${JSON.stringify(sanity)}`)
  if (target.role !== 'baseline' && !(JSON.parse(read.body).visits >= 1)) throw new Error(`${target.id}: a read with a session cookie did not see the session: ${read.body}`)
  return { cookies, sanity }
}

/** Busy CPU time of the whole machine, in ms (all cores, steal left out). */
async function machineBusyMs() {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]
  const [user, nice, system, , , irq, softirq] = line.split(/\s+/).slice(1).map(Number)
  return (user + nice + system + irq + softirq) * 10
}

/**
 * Snapshots CPU use around a measurement: the server's own CPU per request (robust against a
 * load generator that shares the machine), the benchmark's PostgreSQL's (all its processes) per
 * request, and the CPU that processes other than the benchmark's used meanwhile (noise from
 * elsewhere on the machine).
 */
async function cpuProbe(serverPid, redisPid, otherPids = []) {
  // Indices 0-3 are read below; other servers of the benchmark (a bare app measured in the same
  // window) only count as the benchmark's own, not as foreign load.
  const pids = [serverPid, worker.pid, redisPid, process.pid, ...otherPids]
  const snapshot = async () => ({ at: performance.now(), busy: await machineBusyMs(), ours: [...(await Promise.all(pids.slice(0, 4).map(cpuMs))), postgres ? await postgres.cpuMs() : 0, ...(await Promise.all(pids.slice(4).map(cpuMs)))] })
  const before = await snapshot()
  return async (requests) => {
    const after = await snapshot()
    const wall = after.at - before.at
    const used = after.ours.map((v, i) => v - before.ours[i])
    const ours = used.reduce((a, b) => a + b, 0)
    return {
      serverCpuUsPerRequest: requests ? (used[0] * 1000) / requests : null,
      serverCpu: used[0] / wall,
      loadgenCpu: used[1] / wall,
      redisCpu: used[2] / wall,
      postgresCpu: used[4] / wall,
      postgresCpuUsPerRequest: requests ? (used[4] * 1000) / requests : null,
      foreignCpu: Math.max(0, (after.busy - before.busy - ours) / wall),
    }
  }
}

/**
 * One scenario of a target: `duration` seconds of load, the server's CPU per request, and the
 * Redis commands or PostgreSQL statements it sent. With `base` (the bare app of the target's
 * generation, running on the same core), the two are measured in alternating slices over the
 * same moments (load-worker.mjs `alternate`), and the bare app's figures go to `bracket`.
 */
async function measure(url, target, scenario, cookies, redis, duration, serverPid, base) {
  const counted = Boolean(target.redisPrefix) && target.role !== 'baseline'
  const statements = Boolean(target.pgTable) && target.role !== 'baseline' && postgres.counted
  if (counted) await redis.resetStats()
  if (statements) await postgres.resetStats()
  const job = { url, paths: [pathOf(target, scenario)], cookies: scenario === 'first' ? undefined : cookies, pid: serverPid }
  const probe = await cpuProbe(serverPid, redis.pid, base ? [base.proc.child.pid] : [])
  let result
  if (base) {
    const baseScenario = base.target.scenarios.includes(scenario) ? scenario : 'lazy'
    const both = await call('alternate', {
      a: job,
      b: { url: base.proc.url, paths: [pathOf(base.target, baseScenario)], cookies: baseScenario === 'first' ? undefined : base.cookies, pid: base.proc.child.pid },
      slices: slicesOf(duration),
      sliceSeconds: 1,
      connections: CONNECTIONS,
    })
    // Each server's CPU per request from its own slices (the worker reads it around each one):
    // the two may be one process, a peer against the bare routes of its own app.
    result = Object.assign(both.a, await probe(both.a.requests), { serverCpuUsPerRequest: both.a.requests ? (both.a.cpuMs * 1000) / both.a.requests : null })
    result.bracket = { target: base.target.id, scenario: baseScenario, rps: both.b.rps, serverCpuUsPerRequest: both.b.requests ? (both.b.cpuMs * 1000) / both.b.requests : null, slices: both.b.slices, p50Us: both.b.p50Us, p99Us: both.b.p99Us }
  }
  else {
    result = await call('load', { ...job, duration, connections: CONNECTIONS, maxSeconds: duration + 20 })
    Object.assign(result, await probe(result.requests))
  }
  if (counted) {
    await sleep(200)
    const stats = await redis.commandStats()
    result.redisCommands = Object.fromEntries(Object.entries(stats).map(([cmd, calls]) => [cmd, calls / result.requests]))
  }
  if (statements) {
    // pg_stat_statements counts a statement when it ends; the requests still in flight when the
    // load generator stopped end meanwhile (counted here rather than in the next run).
    await sleep(200)
    const stats = await postgres.statementStats()
    result.pgStatements = Object.fromEntries(Object.entries(stats).map(([label, calls]) => [label, calls / result.requests]))
  }
  return result
}

/**
 * Waits (bounded) until the machine is quiet: less than `limit` of one core busy over a second,
 * so that a run does not start while something else loads the machine. Returns what it saw.
 */
async function waitQuiet(maxSeconds, limit = 0.15) {
  const deadline = Date.now() + maxSeconds * 1000
  let busy
  for (;;) {
    const a = await machineBusyMs()
    await sleep(1000)
    busy = ((await machineBusyMs()) - a) / 1000
    if (busy < limit || Date.now() > deadline) return { busyCores: busy, waitedSeconds: maxSeconds - Math.max(0, (deadline - Date.now()) / 1000) }
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Warms a server up until its cost per request has settled: rounds of 1 s over `paths`, until
 * two rounds in a row cost the server within 5 % of each other in CPU per request (V8 has
 * optimised the hot code, the heap has grown to its working size), at least two rounds and at
 * most `MODE.warmup` seconds. A fixed 1-2 s left Nuxt's first scenario at up to 4x its settled
 * cost, which is what made the first scenario after a start the noisiest figure.
 */
async function warmUp(proc, paths, cookies) {
  let previous
  const rounds = []
  for (let round = 0; round < Math.max(2, MODE.warmup); round++) {
    const probe = await cpuProbe(proc.child.pid)
    const run = await call('load', { url: proc.url, paths, cookies, duration: 1, connections: CONNECTIONS, maxSeconds: 20 })
    const cost = (await probe(run.requests)).serverCpuUsPerRequest
    rounds.push(Math.round(cost))
    if (round > 0 && previous && cost && Math.abs(cost - previous) / previous <= 0.05) break
    previous = cost
  }
  return rounds
}

/** Alternating slices of 1 s per scenario of a target and its bare app (b a a b ...): autocannon's granularity. */
const slicesOf = duration => Math.max(2, Math.round(duration))

async function cycle(n, plan, redis, results) {
  /** The running baseline server of each group, for the bracketed measurements. */
  const bases = new Map()
  try {
    for (const server of plan) {
      log(`cycle ${n}: ${server.name}`)
      const proc = await start(server, { redis })
      let kept = false
      try {
        for (const target of server.targets) {
          const { cookies, sanity } = await prepareTarget(proc.url, target)
          if (n === 1) results.sanity[target.id] = sanity
          const warmPaths = [...new Set(target.scenarios.map(s => pathOf(target, s)))]
          const warm = await warmUp(proc, warmPaths, cookies)
          results.warmups.push({ cycle: n, target: target.id, costs: warm })
          // The scenario order turns by one each cycle, so that none is always first after start-up.
          const order = target.scenarios.map((_, i) => target.scenarios[(i + n - 1) % target.scenarios.length])
          const base = target.role === 'baseline' ? undefined : bases.get(target.group)
          for (const scenario of order) {
            const r = await measure(proc.url, target, scenario, cookies, redis, MODE.duration, proc.child.pid, base)
            results.runs.push({ cycle: n, target: target.id, scenario, ...r })
            const pgText = target.pgTable ? `  postgres ${r.postgresCpuUsPerRequest.toFixed(0)} µs/req (${(r.postgresCpu * 100).toFixed(0)} %)${r.pgStatements ? ` [${Object.entries(r.pgStatements).map(([l, n]) => `${l} ${n.toFixed(2)}`).join(', ') || 'no statements'}]` : ''}` : ''
            const bracketText = r.bracket ? `  ratio ${(r.rps / r.bracket.rps).toFixed(2)} (bare ${r.bracket.rps.toFixed(0)} req/s, ${r.bracket.serverCpuUsPerRequest.toFixed(0)} µs/req in alternate slices)` : ''
            log(`  ${target.id.padEnd(24)} ${scenario.padEnd(6)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${(r.p50Us / 1000).toFixed(2)} ms  p99 ${(r.p99Us / 1000).toFixed(2)} ms  server ${r.serverCpuUsPerRequest.toFixed(0)} µs/req (${(r.serverCpu * 100).toFixed(0)} %)${pgText}${bracketText}  foreign ${(r.foreignCpu * 100).toFixed(0)} %${r.ok !== r.requests ? `  NON-2XX ${JSON.stringify(r.statuses)}` : ''}`)
          }
          if (n === 1 && target.redisPrefix && target.role !== 'baseline') {
            // Round trips, from MONITOR: a small bounded sample per scenario, outside the timings.
            results.roundTrips[target.id] = {}
            for (const scenario of target.scenarios.filter(s => s !== 'lazy')) {
              const seen = await redis.monitor(() => call('load', { url: proc.url, paths: [pathOf(target, scenario)], cookies: scenario === 'first' ? undefined : cookies, amount: MODE.monitorSample, connections: CONNECTIONS, maxSeconds: 30 }))
              const requests = seen.result.requests
              const per = counts => Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v / requests]))
              results.roundTrips[target.id][scenario] = { requests, fromClients: per(seen.fromClients), inScripts: per(seen.inScripts) }
            }
          }
          if (target.role === 'baseline') {
            bases.set(target.group, { server, proc, target, cookies })
            kept = true
          }
        }
        results.rss.push({ cycle: n, server: server.name, rssKiB: await rssKiB(proc.child.pid) })
      }
      finally {
        if (!kept) await stop(server, proc, redis)
      }
    }
  }
  finally {
    for (const base of new Set(bases.values())) await stop(base.server, base.proc, redis)
  }
}

/**
 * Read latency and server memory with 1,000 stored sessions, then with `growthTo`: the extra
 * sessions are made over HTTP (first-visit writes, bounded in count and time), or for
 * PostgreSQL by one `INSERT ... SELECT generate_series` into the target's table (bounded by
 * `statement_timeout`; the same rows a first visit writes, in a second rather than a minute).
 */
async function growth(plan, redis) {
  const out = []
  for (const name of ['module-memory', 'module-sqlite', 'module-redis', 'module-postgres']) {
    const server = plan.find(s => s.name === name)
    if (!server) continue
    const target = server.targets[0]
    log(`growth: ${name}`)
    // The inspector only serves to collect garbage before each memory reading.
    const proc = await start(server, { redis, extraEnv: { NODE_OPTIONS: '--inspect=127.0.0.1:0' } })
    const inspector = await connectInspector(proc.output)
    try {
      const { cookies } = await prepareTarget(proc.url, target)
      await call('load', { url: proc.url, paths: [target.routes.read, target.routes.write], cookies, duration: MODE.warmup, connections: CONNECTIONS, maxSeconds: 30 })
      const point = async (stored) => {
        await sleep(1000)
        const probe = await cpuProbe(proc.child.pid, redis.pid)
        const read = await call('load', { url: proc.url, paths: [target.routes.read], cookies, duration: MODE.duration, connections: CONNECTIONS, maxSeconds: MODE.duration + 20 })
        const cpu = await probe(read.requests)
        const rssUnderLoadKiB = await rssKiB(proc.child.pid)
        await inspector.collectGarbage()
        await inspector.collectGarbage()
        await sleep(500)
        const memory = await inspector.memoryUsage()
        return {
          stored,
          storeKeys: target.redisPrefix ? await redis.countKeys(target.redisPrefix) : target.pgTable ? await postgres.countRows(target.pgTable) : null,
          redisUsedMemory: target.redisPrefix ? await redis.memory() : null,
          postgresTableBytes: target.pgTable ? await postgres.tableBytes(target.pgTable) : null,
          postgresCpuUsPerRequest: cpu.postgresCpuUsPerRequest,
          rps: read.rps,
          p50Us: read.p50Us,
          p99Us: read.p99Us,
          serverCpuUsPerRequest: cpu.serverCpuUsPerRequest,
          foreignCpu: cpu.foreignCpu,
          non2xx: read.requests - read.ok,
          rssUnderLoadKiB,
          rssKiB: await rssKiB(proc.child.pid),
          heapUsedKiB: Math.round(memory.heapUsed / 1024),
        }
      }
      const small = await point(MODE.sessions)
      const extra = MODE.growthTo - MODE.sessions
      const started = Date.now()
      const made = target.pgTable
        ? { ok: await postgres.prefill(target.pgTable, extra, MODE.growthMaxSeconds), via: 'INSERT ... SELECT generate_series' }
        : { ...await call('load', { url: proc.url, paths: [target.routes.write], amount: extra, connections: CONNECTIONS, maxSeconds: MODE.growthMaxSeconds }), via: 'first-visit writes' }
      const seconds = (Date.now() - started) / 1000
      log(`  made ${made.ok} sessions in ${seconds.toFixed(1)} s (${made.via})`)
      const large = await point(MODE.sessions + made.ok)
      out.push({ target: target.id, small, large, creation: { asked: extra, made: made.ok, seconds, rps: made.rps ?? made.ok / seconds, via: made.via } })
    }
    finally {
      inspector.close()
      await stop(server, proc, redis)
    }
  }
  return out
}

/**
 * CPU profiles (`--cpu-prof`) of the bare app and of module-memory while they serve the lazy
 * route, then reads; each summarized by self time over its own timed window only. With
 * `--profile-servers=<server,...>`, of those servers instead (each compared in RESULTS.md with
 * its generation's bare app when that is profiled too), writes included.
 */
async function profile(plan, redis) {
  const out = {}
  const names = flags['profile-servers']?.split(',') ?? ['baseline', 'module-memory']
  for (const name of names) {
    const server = plan.find(s => s.name === name) ?? servers('', postgres?.url ?? '').find(s => s.name === name)
    if (!server) throw new Error(`--profile-servers: no server ${name}`)
    const target = server.targets[0]
    const scenarios = (flags['profile-servers'] ? ['lazy', 'read', 'write'] : ['lazy', 'read']).filter(s => target.scenarios.includes(s))
    const dir = join(TMP, 'profile', name)
    await rm(dir, { recursive: true, force: true })
    await mkdir(dir, { recursive: true })
    log(`profile: ${name} ${scenarios.map(s => pathOf(target, s)).join(' and ')} with --cpu-prof`)
    const proc = await start(server, { redis, extraEnv: { NODE_OPTIONS: `--cpu-prof --cpu-prof-interval=250 --cpu-prof-dir=${dir}` } })
    const windows = {}
    try {
      const { cookies } = await prepareTarget(proc.url, target)
      await call('load', { url: proc.url, paths: scenarios.map(s => pathOf(target, s)), cookies, duration: MODE.warmup, connections: CONNECTIONS, maxSeconds: 30 })
      for (const scenario of scenarios) {
        const from = Number(process.hrtime.bigint() / 1000n)
        const run = await call('load', { url: proc.url, paths: [pathOf(target, scenario)], cookies, duration: MODE.duration, connections: CONNECTIONS, maxSeconds: MODE.duration + 20 })
        windows[scenario] = { run, window: { from, to: Number(process.hrtime.bigint() / 1000n) } }
      }
    }
    finally {
      await stop(server, proc, redis)
    }
    out[name] = { meta: { target: target.id, group: target.group, role: target.role } }
    for (const [scenario, { run, window }] of Object.entries(windows)) {
      out[name][scenario] = { rps: run.rps, requests: run.requests, seconds: run.seconds, ...await summarizeProfile(dir, ROOT, window) }
    }
  }
  return out
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const results = {
    mode: MODE.name,
    settings: { ...MODE, connections: CONNECTIONS, pinning: PIN ?? null },
    date: new Date().toISOString(),
    commit: gitCommit(),
    machine: await machine(),
    timings: {},
    builds: {},
    runs: [],
    sanity: {},
    roundTrips: {},
    rss: [],
    warmups: [],
  }
  log(`mode ${MODE.name}: ${MODE.cycles} cycle(s), ${MODE.duration} s per scenario, ${CONNECTIONS} connections`)
  const redis = await startRedis()
  pinTo(redis.pid, PIN?.others)
  results.machine.redis = redis.version
  log(`private redis-server ${redis.version} on ${redis.url}`)
  try {
    const planned = s => (!only || only.has(s.name)) && (MODE.peers || !s.peer)
    if (servers(redis.url, 'postgres://').some(s => planned(s) && s.targets.some(t => t.pgTable))) {
      if (postgresAvailable()) {
        postgres = await startPostgres({ pin: pid => pinTo(pid, PIN?.others) })
        results.machine.postgres = postgres.version
        results.postgres = { settings: postgres.settings, statementsCounted: postgres.counted, poolSize: 10 }
        const s = postgres.settings
        log(`private PostgreSQL ${postgres.version} on 127.0.0.1:${postgres.port} (fsync ${s.fsync}, synchronous_commit ${s.synchronous_commit}, full_page_writes ${s.full_page_writes}, wal_sync_method ${s.wal_sync_method}, shared_buffers ${s.shared_buffers}; statements ${postgres.counted ? 'counted by pg_stat_statements' : 'not counted: pg_stat_statements is not installed'})`)
      }
      else {
        log('no PostgreSQL installed (initdb, postgres): the PostgreSQL targets are left out')
      }
    }
    let phase = Date.now()
    const plannedBuilds = only ? new Set(servers(redis.url, postgres?.url).filter(planned).map(s => s.build)) : undefined
    results.builds = await buildAll({ redisUrl: redis.url, force: flags.rebuild, log, only: plannedBuilds })
    // After the builds (which use every core): this process joins the load generator's cores.
    pinTo(process.pid, PIN?.others)
    results.timings.buildSeconds = (Date.now() - phase) / 1000
    log(`builds ready (${results.timings.buildSeconds.toFixed(0)} s)`)

    const plan = servers(redis.url, postgres?.url)
      .filter(planned)
      .map(s => ({ ...s, targets: s.targets.filter(t => MODE.peers || !t.peer) }))
    results.quiet = await waitQuiet(MODE.quietSeconds)
    log(`machine busy before the cycles: ${(results.quiet.busyCores * 100).toFixed(0)} % of a core (waited ${results.quiet.waitedSeconds.toFixed(0)} s)`)
    // In this process, on the quiet machine, before any server starts: a few seconds.
    results.cookieParse = measureCookieParse()
    for (const line of cookieParseLines(results.cookieParse)) log(line)
    results.sqliteOptions = await measureSqliteOptions({ large: MODE.growthTo || 10_000 })
    for (const line of sqliteOptionsLines(results.sqliteOptions)) log(line)
    phase = Date.now()
    // Seconds of timed load per second of `duration`: a bracketed target's run also times its
    // bare app for as long (half before, half after).
    const grouped = new Set(plan.flatMap(s => s.targets).filter(t => t.role === 'baseline').map(t => t.group))
    const scenarios = plan.flatMap(s => s.targets).reduce((n, t) => n + t.scenarios.length * (t.role !== 'baseline' && grouped.has(t.group) ? 2 : 1), 0)
    results.durations = []
    for (let n = 1; n <= MODE.cycles; n++) {
      const cycleStart = Date.now()
      results.durations.push(MODE.duration)
      await cycle(n, plan, redis, results)
      // Later cycles get shorter scenarios if the whole run would not fit its time budget.
      const cycleSeconds = (Date.now() - cycleStart) / 1000
      const left = MODE.cycles - n
      if (left > 0) {
        const overhead = Math.max(0, cycleSeconds - scenarios * MODE.duration)
        const reserve = (MODE.growthTo ? 2 * MODE.growthMaxSeconds + 40 : 0) + 30
        const available = MODE.budgetSeconds - (Date.now() - t0) / 1000 - reserve
        const fits = Math.floor((2 * ((available / left) - overhead)) / scenarios) / 2
        if (fits < MODE.duration) {
          MODE.duration = Math.max(1, fits)
          log(`time budget: ${left} cycle(s) left, next scenarios ${MODE.duration} s`)
        }
      }
    }
    results.timings.cyclesSeconds = (Date.now() - phase) / 1000

    if (MODE.growthTo > MODE.sessions) {
      phase = Date.now()
      results.growth = await growth(plan, redis)
      results.timings.growthSeconds = (Date.now() - phase) / 1000
    }

    results.summary = summarize(results, plan)
    const missed = results.summary.rows.some(r => r.pass === false)
    if (!flags['no-profile'] && (flags.profile || flags['profile-servers'] || (missed && MODE.autoProfile))) {
      phase = Date.now()
      results.profile = await profile(plan, redis)
      results.timings.profileSeconds = (Date.now() - phase) / 1000
    }
  }
  finally {
    await stopAll()
    await redis.stop()
    await postgres?.stop()
    worker.disconnect()
  }
  results.timings.totalSeconds = (Date.now() - t0) / 1000
  if (flags.previous) {
    // An earlier run's summary, for RESULTS.md's comparison (bench/lib/report.mjs previousLines).
    const previous = JSON.parse(await readFile(flags.previous, 'utf8'))
    results.previous = { date: previous.date, commit: previous.commit, settings: previous.settings, summary: { rows: previous.summary.rows } }
  }
  await mkdir(OUT, { recursive: true })
  await writeFile(join(OUT, 'results.json'), `${JSON.stringify(results, null, 2)}\n`)
  await writeFile(join(OUT, 'RESULTS.md'), renderResults(results))
  log(`done in ${results.timings.totalSeconds.toFixed(0)} s: ${join(OUT, 'RESULTS.md')}`)
}

// Interrupted: the servers and the benchmark's PostgreSQL (its temporary directory with it) are
// stopped by their handles before the process ends.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    log(`${signal}: stopping the servers and the benchmark's PostgreSQL`)
    void Promise.allSettled([stopAll(), postgres?.stop()]).finally(() => process.exit(130))
  })
}

main().catch(async (error) => {
  console.error(error)
  await stopAll().catch(() => {})
  await postgres?.stop().catch(() => {})
  worker.disconnect()
  process.exitCode = 1
})
