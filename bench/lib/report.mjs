// From the raw runs to the summary (medians, ratios, pass/fail against DESIGN §6) and to
// bench/RESULTS.md.
import { isWrite } from './postgres.mjs'
import { median, range } from './stats.mjs'

const SCENARIOS = ['lazy', 'read', 'write', 'first']
const SCENARIO_LABEL = {
  lazy: 'lazy (never asks)',
  read: 'read existing',
  write: 'write existing',
  first: 'first visit, writes',
}

/** DESIGN §6: minimum ratio to the bare app, by scenario and store (module targets only). */
const TARGETS = {
  lazy: { 'sqlite': 0.97, 'memory': 0.97, 'redis': 0.97, 'unstorage-redis': 0.97, 'postgres': 0.97 },
  read: { 'sqlite': 0.60, 'memory': 0.90, 'redis': 0.55, 'unstorage-redis': 0.55, 'postgres': 0.45 },
  write: { 'sqlite': 0.45, 'memory': 0.85, 'redis': 0.45, 'unstorage-redis': 0.45, 'postgres': 0.35 },
}
// A first visit that writes is a write: the write target applies to it too; PostgreSQL's first
// visit (an INSERT, a new row and index entries) is reported without a target.
TARGETS.first = { ...TARGETS.write, postgres: null }

/** DESIGN §6, PostgresSessionStore: statements per request (the app's, from pg_stat_statements). */
const POSTGRES_STATEMENTS = [
  { scenario: 'lazy', check: 'lazy route = 0 statements', count: 'all', expected: 0 },
  { scenario: 'read', check: 'read = 1 statement', count: 'all', expected: 1 },
  { scenario: 'read', check: 'unchanged session = 0 writes', count: 'writes', expected: 0 },
  { scenario: 'write', check: 'write = 1 statement (besides the read that loads it)', count: 'writes', expected: 1 },
  { scenario: 'first', check: 'first-visit write = 1 statement', count: 'all', expected: 1 },
]

/** Flat from 1k to 100k stored sessions: server CPU per read and server RSS each within +10 %. */
const GROWTH_LIMITS = { cpu: 1.10, rss: 1.10 }

export function summarize(results, plan) {
  const rows = []
  for (const server of plan) {
    for (const target of server.targets) {
      const baseline = plan.flatMap(s => s.targets).find(t => t.group === target.group && t.role === 'baseline')
      for (const scenario of target.scenarios) {
        const runs = results.runs.filter(r => r.target === target.id && r.scenario === scenario)
        if (runs.length === 0) continue
        const baseScenario = baseline?.scenarios.includes(scenario) ? scenario : 'lazy'
        // The bare app measured in alternating slices with this run (bench/run.mjs measure) where there is
        // one; else (older results) its own run in the same cycle.
        const baseOf = r => r.bracket ?? results.runs.find(b => b.target === baseline?.id && b.scenario === baseScenario && b.cycle === r.cycle)
        const ratios = runs.map(r => (baseOf(r) ? r.rps / baseOf(r).rps : null))
        const cpuRatios = runs.map(r => (baseOf(r) && r.serverCpuUsPerRequest ? baseOf(r).serverCpuUsPerRequest / r.serverCpuUsPerRequest : null))
        const threshold = target.role === 'module' ? TARGETS[scenario]?.[target.store] ?? null : null
        const ratio = target.role === 'baseline' ? 1 : median(ratios)
        const cpuRatio = target.role === 'baseline' ? 1 : median(cpuRatios)
        const commands = {}
        for (const r of runs) {
          for (const cmd of Object.keys(r.redisCommands ?? {})) commands[cmd] = median(runs.map(x => x.redisCommands?.[cmd] ?? 0))
        }
        const statements = {}
        for (const r of runs) {
          for (const label of Object.keys(r.pgStatements ?? {})) statements[label] = median(runs.map(x => x.pgStatements?.[label] ?? 0))
        }
        const pgCounted = runs.some(r => r.pgStatements)
        rows.push({
          target: target.id,
          label: target.label,
          group: target.group,
          role: target.role,
          store: target.store ?? null,
          scenario,
          baseline: baseline?.id ?? null,
          cycles: runs.length,
          rps: median(runs.map(r => r.rps)),
          p50Us: median(runs.map(r => r.p50Us)),
          p99Us: median(runs.map(r => r.p99Us)),
          serverCpuUsPerRequest: median(runs.map(r => r.serverCpuUsPerRequest)),
          serverCpu: median(runs.map(r => r.serverCpu)),
          foreignCpu: median(runs.map(r => r.foreignCpu)),
          non2xx: runs.reduce((n, r) => n + (r.requests - r.ok), 0),
          errors: runs.reduce((n, r) => n + (r.errors ?? 0), 0),
          ratio,
          ratioRange: target.role === 'baseline' ? null : range(ratios),
          threshold,
          pass: threshold === null || ratio === null ? null : ratio >= threshold,
          cpuRatio,
          cpuRatioRange: target.role === 'baseline' ? null : range(cpuRatios),
          cpuPass: threshold === null || cpuRatio === null ? null : cpuRatio >= threshold,
          redisCommands: Object.keys(commands).length ? commands : null,
          pgStatements: pgCounted ? statements : null,
          postgresCpuUsPerRequest: target.pgTable ? median(runs.map(r => r.postgresCpuUsPerRequest)) : null,
        })
      }
    }
  }

  // Redis: read = 1 command, unchanged = 0 writes, write = 1 round trip (MONITOR sample).
  const redisChecks = []
  const trips = results.roundTrips['module-redis']
  if (trips) {
    const total = counts => Object.values(counts ?? {}).reduce((a, b) => a + b, 0)
    const writes = counts => Object.entries(counts ?? {}).filter(([c]) => !['hgetall', 'hget', 'get', 'exists', 'ttl', 'pttl'].includes(c)).reduce((a, [, n]) => a + n, 0)
    const near = (value, expected) => Math.abs(value - expected) < 0.02
    if (trips.read) {
      redisChecks.push({ check: 'read = 1 command (round trip)', measured: total(trips.read.fromClients), pass: near(total(trips.read.fromClients), 1) })
      redisChecks.push({ check: 'unchanged session = 0 writes', measured: writes(trips.read.fromClients), pass: near(writes(trips.read.fromClients), 0) })
    }
    if (trips.write) redisChecks.push({ check: 'write = 1 round trip (besides the read that loads it)', measured: writes(trips.write.fromClients), pass: near(writes(trips.write.fromClients), 1) })
    if (trips.first) redisChecks.push({ check: 'first-visit write = 1 round trip', measured: total(trips.first.fromClients), pass: near(total(trips.first.fromClients), 1) })
  }

  // PostgreSQL: statements per request of each PostgresSessionStore target (medians over cycles).
  const postgresChecks = []
  for (const target of plan.flatMap(s => s.targets).filter(t => t.store === 'postgres' && t.role === 'module')) {
    for (const c of POSTGRES_STATEMENTS) {
      const row = rows.find(r => r.target === target.id && r.scenario === c.scenario)
      if (!row?.pgStatements) continue
      const measured = Object.entries(row.pgStatements).filter(([label]) => c.count === 'all' || isWrite(label)).reduce((n, [, v]) => n + v, 0)
      postgresChecks.push({ target: target.id, scenario: c.scenario, check: c.check, measured, pass: Math.abs(measured - c.expected) < 0.02 })
    }
  }

  const growth = (results.growth ?? []).map((g) => {
    const rpsRatio = g.large.rps / g.small.rps
    const rssRatio = g.large.rssKiB / g.small.rssKiB
    const heapPerSession = ((g.large.heapUsedKiB - g.small.heapUsedKiB) * 1024) / (g.large.stored - g.small.stored)
    return {
      ...g,
      rpsRatio,
      p99Ratio: g.large.p99Us / g.small.p99Us,
      rssRatio,
      heapPerSession,
      rssPerThousandKiB: (g.large.rssKiB - g.small.rssKiB) / ((g.large.stored - g.small.stored) / 1000),
      cpuRatio: g.large.serverCpuUsPerRequest / g.small.serverCpuUsPerRequest,
      costFlat: g.large.serverCpuUsPerRequest / g.small.serverCpuUsPerRequest <= GROWTH_LIMITS.cpu,
      memoryFlat: rssRatio <= GROWTH_LIMITS.rss,
    }
  })
  return { rows, redisChecks, postgresChecks, growth, growthLimits: GROWTH_LIMITS }
}

// ---------------------------------------------------------------------------------------------

const fmt = {
  rps: v => (v === null ? '—' : Math.round(v).toLocaleString('en-US')),
  ms: us => (us === null || us === undefined ? '—' : (us / 1000).toFixed(2)),
  ratio: v => (v === null || v === undefined ? '—' : v.toFixed(2)),
  pass: v => (v === null ? '' : v ? '**pass**' : '**FAIL**'),
  mib: kib => (kib ? (kib / 1024).toFixed(0) : '—'),
}

function warmupText(results) {
  const rounds = (results.warmups ?? []).map(w => w.costs.length)
  if (!rounds.length) return ''
  return `; it took ${Math.min(...rounds)}-${Math.max(...rounds)} rounds, median ${median(rounds)}`
}

/**
 * How far this run's ratios moved from an earlier full run's (`--previous`): per target and
 * scenario, both medians with their ranges over the cycles, the difference, and whether the two
 * runs agree within the spread they print: their ranges, as printed (two decimals), share a
 * value. The stricter test (a run's median inside the other's range) is counted beside it. With n
 * cycles in each run (fresh processes each, so independent samples), two runs of the same code
 * miss each other by chance alone with a probability of 2 / C(2n, n), also printed.
 */
function previousLines(results) {
  const previous = results.previous
  if (!previous?.summary) return []
  const rows = []
  const deltas = []
  let agree = 0
  let strict = 0
  const printed = v => Math.round(v * 100) / 100
  const span = (value, r) => (r ? [printed(r[0]), printed(r[1])] : [printed(value), printed(value)])
  const within = (v, r) => printed(v) >= r[0] && printed(v) <= r[1]
  for (const row of results.summary.rows) {
    if (row.role === 'baseline' || row.ratio === null) continue
    const old = previous.summary.rows.find(o => o.target === row.target && o.scenario === row.scenario)
    if (!old || old.ratio === null) continue
    const delta = row.ratio - old.ratio
    deltas.push(Math.abs(delta) / old.ratio)
    const [now, before] = [span(row.ratio, row.ratioRange), span(old.ratio, old.ratioRange)]
    const overlap = now[0] <= before[1] && before[0] <= now[1]
    const inside = within(row.ratio, before) || within(old.ratio, now)
    if (overlap) agree++
    if (inside) strict++
    const rangeText = r => (r ? ` (${r[0].toFixed(2)}–${r[1].toFixed(2)})` : '')
    rows.push([row.target, SCENARIO_LABEL[row.scenario], `${old.ratio.toFixed(2)}${rangeText(old.ratioRange)}`, `${row.ratio.toFixed(2)}${rangeText(row.ratioRange)}`, `${delta >= 0 ? '+' : ''}${delta.toFixed(2)}`, overlap ? (inside ? 'yes' : 'yes (ranges meet)') : '**no**'])
  }
  if (!rows.length) return []
  const sorted = [...deltas].sort((a, b) => a - b)
  const cycles = Math.min(results.settings.cycles, previous.settings?.cycles ?? results.settings.cycles)
  const chance = 2 / binomial(2 * cycles, cycles)
  return [
    '## Against the previous full run', '',
    `The same benchmark run before this one (${previous.date}), at ${previous.commit ?? 'the same code'}. "Agree" = the two runs' ranges over their cycles, as printed, share a value: the move between the runs is within the spread each prints. ${agree} of ${rows.length} agree; by the stricter test (one run's median inside the other's range) ${strict} of ${rows.length}. The ratios moved by a median of ${(median(sorted) * 100).toFixed(0)} % and at most ${(sorted.at(-1) * 100).toFixed(0)} % (relative to the earlier ratio). With ${cycles} cycles in each run, two runs of the same code miss each other on a ratio by chance alone 1 time in ${Math.round(1 / chance)} (2 / C(${2 * cycles}, ${cycles}), for independent cycles): about ${(chance * rows.length).toFixed(1)} of ${rows.length}.`, '',
    table(['target', 'scenario', 'earlier ratio (range)', 'this run (range)', 'difference', 'agree'], rows), '',
  ]
}

/** n choose k. */
function binomial(n, k) {
  let out = 1
  for (let i = 1; i <= k; i++) out = (out * (n - k + i)) / i
  return out
}

function durationText(results) {
  const list = results.durations ?? [results.settings.duration]
  return new Set(list).size === 1 ? `${list[0]} s` : `${list.join(' s / ')} s (cycle 1 / 2 / …: shortened to fit the run's time budget)`
}

/** The store's own size at a growth point: Redis's used_memory, or the PostgreSQL table's (with indexes). */
function storeMiB(point) {
  const bytes = point.redisUsedMemory ?? point.postgresTableBytes
  return bytes ? (bytes / 1048576).toFixed(0) : '—'
}

/** CPU used by processes outside the benchmark during a growth point's reads (share of one core). */
function otherCpu(point) {
  return point.foreignCpu === null || point.foreignCpu === undefined ? '—' : `${Math.round(point.foreignCpu * 100)} %`
}

/** The PostgreSQL settings a run used, as the server reported them. */
function postgresSettingsText(s) {
  return ['fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', 'wal_level', 'shared_buffers', 'max_wal_size', 'checkpoint_timeout', 'autovacuum', 'jit', 'max_connections', 'shared_preload_libraries'].filter(k => s[k] !== undefined).map(k => `\`${k}=${s[k]}\``).join(', ')
}

function table(head, rows) {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map(r => `| ${r.join(' | ')} |`)].join('\n')
}

export function renderResults(results) {
  const { summary, machine, settings } = results
  const out = []
  const v = machine.versions
  out.push('# nuxt-server-session benchmark results', '')
  out.push(`Produced by \`npm run bench\`${results.mode === 'quick' ? ' -- --quick' : ''} (${results.mode} run) on ${results.date.slice(0, 10)}. Raw data: [results.json](./results.json).`, '')
  out.push('## Machine', '')
  out.push(table(['what', 'value'], [
    ['cores (`nproc`)', machine.nproc],
    ['CPU', machine.cpu],
    ['memory', `${machine.memoryGiB} GiB`],
    ['load average at start', machine.loadavgAtStart.map(x => x.toFixed(2)).join(', ')],
    ['machine busy before the cycles', results.quiet ? `${Math.round(results.quiet.busyCores * 100)} % of one core (after waiting ${results.quiet.waitedSeconds.toFixed(0)} s for quiet)` : '—'],
    ['Node', machine.node],
    ['Nuxt / Nitro / h3', `${v.nuxt} / ${v.nitropack} / ${v.h3}`],
    ['Nitro 3 / h3 2', `${v.nitro ?? '—'} / ${v['h3-v2'] ?? '—'}`],
    ['unstorage / ioredis / Redis server', `${v.unstorage} / ${v.ioredis} / ${machine.redis}`],
    ['pg (node-postgres) / PostgreSQL server', `${v.pg ?? '—'} / ${machine.postgres ?? 'not run'}`],
    ['load generator', `autocannon ${v.autocannon}, ${settings.connections} connections, its own process`],
    ['peers', `nuxt-auth-utils ${v['nuxt-auth-utils']}, @scayle/h3-session ${v['@scayle/h3-session']}, express ${v.express} + express-session ${v['express-session']} + connect-redis ${v['connect-redis']} (redis ${v.redis})`],
    ['date', results.date],
  ]), '')

  out.push('## How it was measured', '')
  out.push([
    `- ${settings.cycles} cycle(s); in each, every server is started on its own (a production build, \`node .output/server/index.mjs\`, or the app's own script for Express and plain h3, on a free 127.0.0.1 port), gets ${settings.sessions.toLocaleString('en-US')} sessions made over HTTP (first-visit writes), is warmed up until its cost has settled (rounds of 1 s over its routes until two in a row cost the server within 5 % CPU per request, at most ${settings.warmup} s${warmupText(results)}), then ${durationText(results)} per scenario. ${results.runs.some(r => r.bracket) ? 'The bare app of each generation stays running (idle, on the same core) while the targets of its generation run, and each target\'s run is interleaved with the bare app\'s: alternating slices of 1 s (bare, target, target, bare, ...), the same total time for both, so that the machine\'s drift over a cycle (this is a shared VM whose speed moves by tens of percent within minutes) cancels out of the ratio. ' : ''}Figures are medians over the cycles; a ratio is computed per run (target req/s ÷ its bare app's req/s around it, same scenario) and the median is shown with its range over the cycles.`,
    '- Scenarios: **lazy** = `/api/lazy`, a route that never asks for the session (the request still carries a session cookie); **read** = `/api/read` with one of the 1,000 cookies (round-robin), returns `session.data.visits`; **write** = `/api/write` with a cookie, increments the counter; **first** = `/api/write` without a cookie (a new session each request, a Set-Cookie each response).',
    '- Baselines: Nuxt targets against `baseline` (the same Nuxt app and routes, no session module; its read/write routes return the same JSON without a session, and its requests carry a cookie of the same size); Nitro targets against `nitro-baseline` (a plain Nitro app, the same build as the h3 and @scayle peers); Nitro 3 targets against `nitro3-baseline` (a plain Nitro 3 app, `nitro build`, the same routes and JSON); the plain h3 targets (`nuxt-server-session/h3` imported by its name, as a user imports it, from a copy of the package built by nuxt-module-build under bench/node_modules) against the bare app of their own generation, the same script without sessions: `h3v2-baseline` (h3 2 under its `serve()`, sessions with `app.use(sessionAutoSave())` first) and `h3v1-baseline` (h3 1 on node:http), all with NODE_ENV=production; the Express peer against a bare route of the same Express process (`/api/lazy`).',
    '- `module-redis` is the `module-sqlite` build started with `NUXT_SESSION_REDIS_URL` (RedisSessionStore), and `nitro3-module-redis` the `nitro3-module-sqlite` build likewise; all Redis targets use a private `redis-server` started by the benchmark (no persistence), so that `CONFIG RESETSTAT` / `INFO commandstats` see only their traffic.',
    ...(results.postgres ? [`- \`module-postgres\` is the \`module-sqlite\` build started with \`NUXT_SESSION_POSTGRES_URL\` (PostgresSessionStore, its default pool of ${results.postgres.poolSize} connections, one table per target, created by the app at start and dropped after), \`nitro3-module-postgres\` the \`nitro3-module-sqlite\` build likewise, and \`h3v2-postgres\` the plain h3 2 app with \`new PostgresSessionStore(url)\` (these two: read, write and first visit; a lazy route never reaches the store, and \`module-postgres\` measures it). All use a private PostgreSQL ${machine.postgres} started by the benchmark (initdb in a temporary directory on the machine's disk, 127.0.0.1, its own port), with PostgreSQL's durable defaults: ${postgresSettingsText(results.postgres.settings)}. The apps log in as their own role, so that \`pg_stat_statements\` (preloaded: the one setting added) counts their statements alone.`] : []),
    settings.pinning ? `- Pinned with \`taskset\`: the server under test alone on core ${settings.pinning.server}; the load generator, the benchmark process, its Redis${results.postgres ? ' and its PostgreSQL (all its processes)' : ''} on core(s) ${settings.pinning.others}.` : '- Not pinned to cores (`--no-pin`, or no `taskset` or second core): the server and the load generator shared the cores as the scheduler chose.',
    '- Latency is measured by the load generator per response at 1 µs resolution, at 10 concurrent connections (so it includes queueing: about connections ÷ throughput).',
  ].join('\n'), '')

  out.push('## Throughput, latency and ratio to the bare app', '')
  const rows = summary.rows
  out.push(table(
    ['target', 'scenario', 'req/s', 'p50 ms', 'p99 ms', 'ratio (range)', 'DESIGN §6 target', 'result', 'server µs/req', 'CPU ratio', 'other CPU'],
    rows.map(r => [
      `${r.role === 'baseline' ? '_' : ''}${r.target}${r.role === 'baseline' ? '_' : ''}`,
      SCENARIO_LABEL[r.scenario],
      fmt.rps(r.rps),
      fmt.ms(r.p50Us),
      fmt.ms(r.p99Us),
      r.role === 'baseline' ? 'baseline' : `${fmt.ratio(r.ratio)}${r.ratioRange ? ` (${fmt.ratio(r.ratioRange[0])}–${fmt.ratio(r.ratioRange[1])})` : ''}`,
      r.threshold === null ? '' : `≥ ${r.threshold.toFixed(2)}${r.scenario === 'first' ? ' (write)' : ''}`,
      fmt.pass(r.pass) + (r.non2xx ? ` ${r.non2xx} non-2xx` : ''),
      r.serverCpuUsPerRequest === null ? '—' : r.serverCpuUsPerRequest.toFixed(0),
      r.role === 'baseline' ? '' : `${fmt.ratio(r.cpuRatio)}${r.cpuPass === null ? '' : r.cpuPass ? ' ✓' : ' ✗'}`,
      r.foreignCpu === null ? '—' : `${Math.round(r.foreignCpu * 100)} %`,
    ]),
  ), '')
  out.push('Columns: **ratio** = req/s ÷ the baseline\'s req/s (the DESIGN §6 definition; **result** judges it). **server µs/req** = CPU time of the server process (all threads, from /proc) per request; **CPU ratio** = the baseline\'s µs/req ÷ this target\'s, i.e. the req/s ratio a server with a core to itself would see (on 2 cores the load generator and the server share the machine, which pulls the req/s ratio towards 1). Redis\'s and PostgreSQL\'s own CPU is not in it (PostgreSQL\'s is shown with its statements below). **other CPU** = CPU used meanwhile by processes outside the benchmark (share of one core): high values mean a noisy measurement.', '')
  const checked = rows.filter(r => r.pass !== null)
  out.push(`DESIGN §6 ratio targets: ${checked.filter(r => r.pass).length} of ${checked.length} met${checked.some(r => !r.pass) ? `; missed: ${checked.filter(r => !r.pass).map(r => `${r.target} ${r.scenario} (${fmt.ratio(r.ratio)} < ${r.threshold.toFixed(2)})`).join(', ')}` : ''}. The first-visit write is held to the write target (PostgreSQL's is reported only). \`module-unstorage-redis\` has no target of its own in DESIGN §6 (its Redis target is for RedisSessionStore); it is shown for comparison, as are the peers.`, '')

  out.push('### Ratios at a glance (median ratio to the bare app)', '')
  const targets = [...new Set(rows.filter(r => r.role !== 'baseline').map(r => r.target))]
  out.push(table(['target', ...SCENARIOS.map(s => SCENARIO_LABEL[s])], targets.map(t => [t, ...SCENARIOS.map((s) => {
    const r = rows.find(x => x.target === t && x.scenario === s)
    return r ? `${fmt.ratio(r.ratio)}${r.pass === false ? ' ✗' : r.pass ? ' ✓' : ''}` : '—'
  })])), '')

  out.push('## Redis commands per request', '')
  out.push('`INFO commandstats` deltas on the private Redis ÷ requests served in the timed run (median over cycles). Commands that a Lua script runs are counted by Redis too, under their own names (for `module-redis`, the HSET/PEXPIRE/HGET/DEL under `evalsha`).', '')
  const redisRows = rows.filter(r => r.redisCommands)
  out.push(table(['target', 'scenario', 'commands per request'], redisRows.map(r => [r.target, SCENARIO_LABEL[r.scenario], Object.entries(r.redisCommands).sort((a, b) => b[1] - a[1]).filter(([, n]) => n >= 0.005).map(([c, n]) => `${c} ${n.toFixed(2)}`).join(', ') || '0'])), '')
  out.push(`Round trips (commands sent by the app, from \`MONITOR\` on a sample of ${settings.monitorSample} requests per scenario, first cycle; script-internal commands listed apart):`, '')
  out.push(table(['target', 'scenario', 'round trips per request', 'inside scripts'], Object.entries(results.roundTrips).flatMap(([target, byScenario]) => Object.entries(byScenario).map(([scenario, m]) => [
    target,
    SCENARIO_LABEL[scenario],
    `${Object.values(m.fromClients).reduce((a, b) => a + b, 0).toFixed(2)}: ${Object.entries(m.fromClients).map(([c, n]) => `${c} ${n.toFixed(2)}`).join(', ')}`,
    Object.entries(m.inScripts).map(([c, n]) => `${c} ${n.toFixed(2)}`).join(', ') || '—',
  ]))), '')
  if (summary.redisChecks.length) {
    out.push('DESIGN §6 Redis targets (RedisSessionStore, `module-redis`):', '')
    out.push(table(['check', 'measured per request', 'result'], summary.redisChecks.map(c => [c.check, c.measured.toFixed(2), fmt.pass(c.pass)])), '')
  }

  const pgRows = rows.filter(r => r.store === 'postgres' && r.role === 'module')
  if (pgRows.length) {
    out.push('## PostgreSQL statements per request', '')
    out.push(results.postgres?.statementsCounted
      ? 'Statements the app\'s role ran in the benchmark\'s database (`pg_stat_statements` calls, reset before each timed run) ÷ requests served in the run (median over cycles), named after PostgresSessionStore\'s statements; each is one round trip and, outside a transaction, one commit. **PostgreSQL µs/req** = CPU time of the whole PostgreSQL server (all its processes) per request, on the cores it shares with the load generator.'
      : '`pg_stat_statements` is not installed here, so statements were not counted. **PostgreSQL µs/req** = CPU time of the whole PostgreSQL server (all its processes) per request.', '')
    out.push(table(['target', 'scenario', 'statements per request', 'PostgreSQL µs/req'], pgRows.map(r => [
      r.target,
      SCENARIO_LABEL[r.scenario],
      r.pgStatements ? `${Object.values(r.pgStatements).reduce((a, b) => a + b, 0).toFixed(2)}${Object.values(r.pgStatements).some(n => n >= 0.005) ? `: ${Object.entries(r.pgStatements).sort((a, b) => b[1] - a[1]).filter(([, n]) => n >= 0.005).map(([l, n]) => `${l} ${n.toFixed(2)}`).join(', ')}` : ''}` : '—',
      r.postgresCpuUsPerRequest === null || r.postgresCpuUsPerRequest === undefined ? '—' : r.postgresCpuUsPerRequest.toFixed(0),
    ])), '')
    if (summary.postgresChecks?.length) {
      out.push('DESIGN §6 PostgreSQL targets (PostgresSessionStore):', '')
      out.push(table(['target', 'check', 'measured per request', 'result'], summary.postgresChecks.map(c => [c.target, c.check, c.measured.toFixed(2), fmt.pass(c.pass)])), '')
    }
  }

  out.push('## Set-Cookie of a first-visit write', '')
  out.push(table(['target', 'Set-Cookie header bytes (all)', 'cookie value bytes', 'read sets a cookie?', 'lazy sets a cookie?'], Object.entries(results.sanity).filter(([t]) => !t.includes('baseline')).map(([t, s]) => [
    t,
    s.firstVisit.setCookieBytes,
    s.firstVisit.cookieValueBytes,
    s.read.setsCookie ? 'yes' : 'no',
    s.lazy ? (s.lazy.setsCookie ? 'yes' : 'no') : '—',
  ])), '')
  const mod = results.sanity['module-sqlite']?.firstVisit.setCookie?.[0]
  if (mod) out.push(`The module's header, for example: \`${mod.replace(/=[\w-]{43}\.[\w-]{43}/, '=<43-char id>.<43-char HMAC>')}\``, '')

  if (results.cookieParse) {
    out.push('## Cookie parsing', '')
    out.push(`\`readSessionCookie\` (the search for \`${results.cookieParse.name}\` in the request's Cookie header), timed in the benchmark's own process on the source, median of 7 batches. A header of separators costs about what a normal one does (a parser that searched from every \`;\` to the end of the header paid for it quadratically: about 1 ms at 16 KiB); a header of empty cookies costs in proportion to their number, the linear worst case. \`npx node bench/lib/cookie-parse.mjs\` prints the same figures alone.`, '')
    out.push(table(['Cookie header', 'bytes', 'µs per call', '× the normal header'], results.cookieParse.rows.map(r => [
      r.header,
      r.bytes.toLocaleString('en-US'),
      r.usPerCall < 10 ? r.usPerCall.toFixed(3) : r.usPerCall.toFixed(1),
      r.header === 'normal' ? '1' : r.ratio.toFixed(r.ratio < 10 ? 1 : 0),
    ])), '')
  }

  if (results.sqliteOptions) {
    const o = results.sqliteOptions
    const f = us => (us < 10 ? us.toFixed(1) : us.toFixed(0))
    out.push('## SQLite default: the options measured', '')
    out.push('The statements the embedded default store runs, on the runtime\'s own SQLite (`node:sqlite`), timed in the benchmark\'s process on the project\'s disk, median of 5 rounds: a read by key; a write (`BEGIN IMMEDIATE`, read, merge, `UPDATE`, `COMMIT`); a new session (`INSERT`); and ten writes in one transaction (per write), by durability (`synchronous` in WAL mode), table layout and number of stored sessions. The driver uses WAL, `synchronous = NORMAL` and the WITHOUT ROWID table, one transaction per save. `npx node bench/lib/sqlite-options.mjs` prints the same figures alone.', '')
    out.push(table(['layout', 'synchronous', 'stored', 'read µs', 'write µs', 'new session µs', 'write in a batch of 10, µs'], o.rows.map(r => [r.layout, r.synchronous, r.stored.toLocaleString('en-US'), f(r.read), f(r.write), f(r.create), f(r.batched)])), '')
    out.push(`Sweep of ${o.sweep.count.toLocaleString('en-US')} expired sessions, ${o.sweep.batch} per statement: ${o.sweep.statements} statements, ${o.sweep.totalMs.toFixed(0)} ms of work, longest statement ${o.sweep.longestMs.toFixed(1)} ms (on the event loop, where the maintenance thread cannot run; the driver sweeps in that thread).`, '')
    out.push(table(['20,000 writes through', 'µs per write on the event loop', 'event-loop delay p99 ms', 'event-loop delay max ms'], o.checkpoints.map(c => [c.via, f(c.writeUs), c.loopP99Ms.toFixed(1), c.loopMaxMs.toFixed(1)])), '')
    out.push('The event-loop delays include the 1 ms pauses between writes. A plain connection checkpoints in the commit that takes the WAL past 1,000 pages, and that commit holds the event loop for the copy and the syncs; the driver\'s maintenance thread checkpoints instead.', '')
  }

  out.push('## Growth: 1,000 vs many stored sessions', '')
  if (summary.growth.length) {
    out.push(`Reads of the same 1,000 sessions, with 1,000 stored and after adding more through \`/api/write\` without a cookie (autocannon, ${settings.connections} connections, bounded in count and time). "Flat" means the server's CPU per read (cost) and its RSS after GC (memory) each grow by at most ${Math.round((summary.growthLimits.cpu - 1) * 100)} %; req/s and latency are shown as measured.`, '')
    out.push('Server memory is read after two forced garbage collections (through the inspector), so it compares live data rather than how far the heap grew under load; RSS under load is shown too.', '')
    out.push(table(['target', 'stored', 'read req/s', 'p50 ms', 'p99 ms', 'server µs/req', 'RSS under load MiB', 'RSS after GC MiB', 'JS heap used MiB', 'store MiB (Redis used_memory / PostgreSQL table)', 'other CPU', 'cost flat', 'memory flat'], summary.growth.flatMap(g => [
      [g.target, g.small.stored.toLocaleString('en-US'), fmt.rps(g.small.rps), fmt.ms(g.small.p50Us), fmt.ms(g.small.p99Us), g.small.serverCpuUsPerRequest?.toFixed(0) ?? '—', fmt.mib(g.small.rssUnderLoadKiB), fmt.mib(g.small.rssKiB), fmt.mib(g.small.heapUsedKiB), storeMiB(g.small), otherCpu(g.small), '', ''],
      [g.target, g.large.stored.toLocaleString('en-US'), fmt.rps(g.large.rps), fmt.ms(g.large.p50Us), fmt.ms(g.large.p99Us), g.large.serverCpuUsPerRequest?.toFixed(0) ?? '—', fmt.mib(g.large.rssUnderLoadKiB), fmt.mib(g.large.rssKiB), fmt.mib(g.large.heapUsedKiB), storeMiB(g.large), otherCpu(g.large), `${fmt.pass(g.costFlat)} (CPU/read ${fmt.ratio(g.cpuRatio)}×, req/s ${fmt.ratio(g.rpsRatio)}×)`, `${fmt.pass(g.memoryFlat)} (RSS ${fmt.ratio(g.rssRatio)}×; heap ${Math.round(g.heapPerSession)} B per session)`],
    ])), '')
    out.push(summary.growth.map(g => g.creation.via === 'INSERT ... SELECT generate_series'
      ? `- ${g.target}: ${g.creation.made.toLocaleString('en-US')} of ${g.creation.asked.toLocaleString('en-US')} extra sessions inserted into its table in ${g.creation.seconds.toFixed(1)} s by one \`INSERT ... SELECT generate_series\` (then \`ANALYZE\`); PostgreSQL's CPU per read: ${g.small.postgresCpuUsPerRequest?.toFixed(0) ?? '—'} µs with ${g.small.stored.toLocaleString('en-US')} stored, ${g.large.postgresCpuUsPerRequest?.toFixed(0) ?? '—'} µs with ${g.large.stored.toLocaleString('en-US')}.`
      : `- ${g.target}: ${g.creation.made.toLocaleString('en-US')} of ${g.creation.asked.toLocaleString('en-US')} extra sessions made in ${g.creation.seconds.toFixed(1)} s (${fmt.rps(g.creation.rps)} first-visit writes/s).`).join('\n'), '')
    if (summary.growth.some(g => g.target === 'module-memory')) out.push('The memory mount keeps every session in the server process, so its RSS grows with the number of sessions by design; for it the memory figure measures the cost per session rather than a defect.', '')
  }
  else {
    out.push('Not measured in this run (quick runs skip it; the default run measures it).', '')
  }

  out.push('## Server memory after each cycle', '')
  const servers = [...new Set(results.rss.map(r => r.server))]
  out.push(table(['server', 'VmRSS MiB (median)'], servers.map(s => [s, fmt.mib(median(results.rss.filter(r => r.server === s).map(r => r.rssKiB)))])), '')

  if (results.profile) {
    // Each profiled server against the profiled bare app of its generation (older results: no meta).
    const metaOf = name => results.profile[name].meta ?? { group: 'nuxt', role: name === 'baseline' ? 'baseline' : 'module' }
    const pairs = Object.keys(results.profile).filter(n => metaOf(n).role !== 'baseline').map(n => [n, Object.keys(results.profile).find(b => metaOf(b).role === 'baseline' && metaOf(b).group === metaOf(n).group)]).filter(([, b]) => b)
    out.push(`## CPU profiles: ${pairs.map(([n, b]) => `${n} against ${b === 'baseline' ? 'the bare app' : b}`).join('; ')}`, '')
    out.push('`--cpu-prof` (250 µs sampling) on each server process; each scenario keeps only the samples of its own timed window. Self time per request (busy CPU time × share ÷ requests served in the window); bundled code is mapped back to its source through the build\'s source maps.', '')
    const perReq = (p, pct) => (pct * p.busyMs * 10) / (p.rps * p.seconds)
    const pctOf = (p, area) => p.areas.find(a => a.area === area)?.selfPct ?? 0
    const heading = { read: '/api/read (reads an existing session)', lazy: '/api/lazy (never asks for the session)', write: '/api/write (changes an existing session)' }
    for (const [name, baseName] of pairs) {
      const baseLabel = baseName === 'baseline' ? 'bare app' : baseName
      for (const scenario of ['read', 'write', 'lazy']) {
        const base = results.profile[baseName]?.[scenario]
        const mem = results.profile[name]?.[scenario]
        if (!mem && !base) continue
        out.push(`### ${pairs.length > 1 ? `${name}: ` : ''}${heading[scenario]}`, '')
        if (!mem || mem.error || !base || base.error) {
          out.push(String(mem?.error ?? base?.error ?? 'no profile'), '')
          continue
        }
        out.push(`${name}: ${fmt.rps(mem.rps)} req/s under the profiler, ${perReq(mem, 100).toFixed(0)} µs busy CPU per request; the ${baseLabel}: ${fmt.rps(base.rps)} req/s, ${perReq(base, 100).toFixed(0)} µs (${mem.window}).`, '')
        const areas = [...new Set([...mem.areas.map(a => a.area), ...base.areas.map(a => a.area)])]
        out.push(table(['area', `${name} µs/req`, `${baseLabel} µs/req`, 'difference'], areas
          .map(area => [area, perReq(mem, pctOf(mem, area)), perReq(base, pctOf(base, area))])
          .sort((a, b) => Math.abs(b[1] - b[2]) - Math.abs(a[1] - a[2]))
          .slice(0, scenario === 'lazy' ? 10 : 18)
          .map(([area, m, b]) => [area, m.toFixed(1), b.toFixed(1), `${m - b >= 0 ? '+' : ''}${(m - b).toFixed(1)}`])), '')
        if (scenario !== 'lazy') {
          const moduleUs = mem.areas.filter(a => a.area.startsWith('nuxt-server-session ')).reduce((n, a) => n + perReq(mem, a.selfPct), 0)
          const storeUs = name === 'module-memory' ? `unstorage (memory driver): ${perReq(mem, pctOf(mem, 'unstorage')).toFixed(0)} µs` : `pg and pg-protocol: ${(perReq(mem, pctOf(mem, 'pg')) + perReq(mem, pctOf(mem, 'pg-protocol'))).toFixed(0)} µs`
          out.push(`The module's own files: ${moduleUs.toFixed(0)} µs of self time per request; ${storeUs}.`, '')
        }
        out.push('Functions with the largest difference (self time per request):', '')
        const key = f => `${f.name} ${f.where}`
        const baseFn = new Map(base.topFunctions.map(f => [key(f), f]))
        const memFn = new Map(mem.topFunctions.map(f => [key(f), f]))
        const keys = [...new Set([...memFn.keys(), ...baseFn.keys()])]
        out.push(table(['function', 'where', `${name} µs/req`, `${baseLabel} µs/req`], keys
          .map(k => [memFn.get(k) ?? baseFn.get(k), memFn.get(k) ? perReq(mem, memFn.get(k).selfPct) : 0, baseFn.get(k) ? perReq(base, baseFn.get(k).selfPct) : 0])
          .sort((a, b) => Math.abs(b[1] - b[2]) - Math.abs(a[1] - a[2]))
          .slice(0, scenario === 'lazy' ? 12 : 25)
          .map(([f, m, b]) => [`\`${f.name}\``, f.where || '(native)', m.toFixed(1), b.toFixed(1)])), '')
      }
    }
  }

  out.push(...previousLines(results))
  out.push('## Run', '')
  const t = results.timings
  out.push(`Builds ${t.buildSeconds?.toFixed(0)} s (${Object.entries(results.builds).map(([b, s]) => `${b} ${s ? `${s.toFixed(0)} s` : 'reused'}`).join(', ')}); cycles ${t.cyclesSeconds?.toFixed(0)} s${t.growthSeconds ? `; growth ${t.growthSeconds.toFixed(0)} s` : ''}${t.profileSeconds ? `; profile ${t.profileSeconds.toFixed(0)} s` : ''}; total ${t.totalSeconds?.toFixed(0)} s.`, '')
  return `${out.join('\n')}\n`
}
