/**
 * `npm run soak [-- --seconds 60] [--visitors 24] [--no-build]`: two production Nuxt instances
 * sharing Redis (RedisSessionStore, through a loopback proxy this script controls) under a mixed
 * load of reads, writes, sign-ins (regenerate), sign-outs and new visitors, with the Redis
 * connection cut for a few seconds in the middle. At the end every visitor's state is checked:
 * each write acknowledged with a 2xx must be readable, each signed-out or regenerated-away cookie
 * must stay dead. Prints requests by status, crashes, unhandled rejections, sessions checked and
 * lost; exits non-zero on any crash, unhandled rejection, lost or resurrected session, or 5xx
 * outside the cut. Only 127.0.0.1; every loop is bounded in time. Redis: NSS_TEST_REDIS_URL when
 * set, else a private redis-server on a free port, started here and stopped at the end (as in the
 * test run, through test/support/provide.ts).
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { startServer, stopAll } from '../test/support/process.ts'
import type { ServerProcess } from '../test/support/process.ts'
import { provideRedis } from '../test/support/provide.ts'
import type { Provided } from '../test/support/provide.ts'
import { redisAddress } from '../test/support/services.ts'
import { tcpProxy } from '../test/support/tcp-proxy.ts'

const { values: args } = parseArgs({
  options: {
    'seconds': { type: 'string', default: '60' },
    'visitors': { type: 'string', default: '24' },
    'cut': { type: 'string', default: '' },
    'no-build': { type: 'boolean', default: false },
  },
})
const SECONDS = Math.min(600, Math.max(5, Number(args.seconds)))
const VISITORS = Math.min(200, Math.max(2, Number(args.visitors)))
const CUT_SECONDS = Number(args.cut || Math.min(4, Math.max(2, SECONDS / 10)))
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const FIXTURE = join(ROOT, 'test/fixtures/redis')
const PREFIX = `nss-soak-${process.pid}-${randomBytes(3).toString('hex')}`
const COOKIE = '__Host-sid'

interface Visitor {
  jar: Map<string, string>
  /** Visits acknowledged by a 2xx; the store must hold at least this many at the end. */
  acked: number
  user: string | null
  /** Cookies that a 2xx sign-out or sign-in left behind: they must stay dead. */
  dead: string[]
}

const stats = { byStatus: new Map<string, number>(), outsideCut5xx: 0, requests: 0 }
let cut: { from: number, to: number } | undefined
/** When each instance answered a session request again after the cut (its client reconnects by itself). */
const recovered = new Map<ServerProcess, number>()

function count(server: ServerProcess, path: string, status: string, at: number): void {
  stats.requests++
  stats.byStatus.set(status, (stats.byStatus.get(status) ?? 0) + 1)
  // A write that succeeded reached Redis (a read without a cookie does not touch it).
  if (path === '/api/visits' && status === '200' && cut?.to && !recovered.has(server)) recovered.set(server, Date.now())
  // The cut lasts, for each instance, from the cut until its first session answer afterwards;
  // a request in flight when it began overlaps it too.
  const inCut = cut && Date.now() >= cut.from && (!recovered.has(server) || at <= recovered.get(server)!)
  if (status.startsWith('5') && !inCut) stats.outsideCut5xx++
}

/** What the fixture's session routes answer (`/api/me`, `/api/visits`); other bodies are ignored. */
interface Answer { visits: number, user: string | null }

async function request(server: ServerProcess, visitor: Visitor, path: string): Promise<{ status: number, body: Answer }> {
  const started = Date.now()
  try {
    const headers = visitor.jar.size ? { cookie: [...visitor.jar].map(([k, v]) => `${k}=${v}`).join('; ') } : undefined
    const res = await fetch(server.url + path, { headers, redirect: 'manual', signal: AbortSignal.timeout(5000) })
    for (const header of res.headers.getSetCookie()) {
      const [pair = ''] = header.split(';')
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq)
      const value = pair.slice(eq + 1)
      if (/max-age=0/i.test(header) || value === '') visitor.jar.delete(name)
      else visitor.jar.set(name, value)
    }
    const body = (res.headers.get('content-type')?.includes('json') ? await res.json() : { visits: -1, user: null, text: await res.text() }) as Answer
    count(server, path, String(res.status), started)
    return { status: res.status, body }
  }
  catch (error) {
    count(server, path, `error:${(error as Error).name}`, started)
    return { status: 0, body: { visits: -1, user: null } }
  }
}

/** The soak's Redis (a private redis-server unless NSS_TEST_REDIS_URL is set), stopped at the end. */
let redisService: Provided | undefined

async function main(): Promise<void> {
  // Before the build, so that a missing redis-server stops the soak at once.
  redisService = await provideRedis()
  process.stdout.write(`soak: Redis at ${redisAddress().url}\n`)
  if (!args['no-build']) {
    process.stdout.write('soak: building test/fixtures/redis ...\n')
    const built = spawnSync('npx', ['--no', 'nuxi', 'build', FIXTURE], { cwd: ROOT, stdio: 'ignore', env: { ...process.env, NUXT_TELEMETRY_DISABLED: '1' }, timeout: 300_000 })
    if (built.status !== 0) throw new Error('soak: the build failed')
  }
  const entry = join(FIXTURE, '.output/server/index.mjs')
  const proxy = await tcpProxy({ host: redisAddress().host, port: redisAddress().port })
  const env = {
    NUXT_SESSION_SECRET: randomBytes(32).toString('base64url'),
    NUXT_SESSION_REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
    NUXT_SESSION_REDIS_PREFIX: PREFIX,
    NUXT_SESSION_STORE_TIMEOUT: '1000',
  }
  const servers = await Promise.all([0, 1].map(() => startServer(entry, { cwd: join(FIXTURE, '.output'), env })))
  const visitors: Visitor[] = []
  const newVisitor = (): Visitor => {
    const v = { jar: new Map<string, string>(), acked: 0, user: null, dead: [] }
    visitors.push(v)
    return v
  }
  for (let i = 0; i < VISITORS; i++) newVisitor()

  const started = Date.now()
  const end = started + SECONDS * 1000
  const cutAt = started + SECONDS * 400
  const cutTimer = setTimeout(() => {
    cut = { from: Date.now(), to: 0 }
    proxy.cut()
    process.stdout.write(`soak: Redis cut at ${((Date.now() - started) / 1000).toFixed(1)} s for ${CUT_SECONDS} s\n`)
    setTimeout(() => {
      proxy.restore()
      cut!.to = Date.now()
    }, CUT_SECONDS * 1000)
  }, cutAt - started)

  // Each visitor belongs to one worker, so that its requests are sequential and what was
  // acknowledged is known exactly; visitors alternate between the two instances.
  const WORKERS = Math.min(VISITORS, 16)
  const worker = async (index: number) => {
    for (let turn = 0; Date.now() < end; turn++) {
      const mine = visitors.filter((_, i) => i % WORKERS === index)
      const visitor = mine[turn % mine.length]!
      const server = servers[turn % 2]!
      const r = Math.random()
      if (r < 0.45) {
        await request(server, visitor, '/api/me')
      }
      else if (r < 0.8) {
        const res = await request(server, visitor, '/api/visits')
        if (res.status === 200) visitor.acked = Math.max(visitor.acked, res.body.visits)
      }
      else if (r < 0.9) {
        const before = visitor.jar.get(COOKIE)
        const name = `u${randomBytes(3).toString('hex')}`
        const res = await request(server, visitor, `/api/login?name=${name}`)
        if (res.status === 302) {
          visitor.user = name
          if (before && before !== visitor.jar.get(COOKIE)) visitor.dead.push(before)
        }
      }
      else if (r < 0.97) {
        const before = visitor.jar.get(COOKIE)
        const res = await request(server, visitor, '/api/logout')
        if (res.status === 302) {
          if (before) visitor.dead.push(before)
          visitor.acked = 0
          visitor.user = null
        }
      }
      else {
        newVisitor()
      }
    }
  }
  await Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(i)))
  clearTimeout(cutTimer)
  proxy.restore()

  // Wait (bounded) until both instances answer session requests again.
  const probe: Visitor = { jar: new Map(), acked: 0, user: null, dead: [] }
  for (const server of servers) {
    const deadline = Date.now() + 15_000
    while ((await request(server, probe, '/api/visits')).status !== 200 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 200))
  }

  let checked = 0
  let lost = 0
  let resurrected = 0
  for (const [i, visitor] of visitors.entries()) {
    const server = servers[i % 2]!
    if (visitor.jar.get(COOKIE)) {
      checked++
      const res = await request(server, visitor, '/api/me')
      if (res.status !== 200 || res.body.visits < visitor.acked || (visitor.user !== null && res.body.user !== visitor.user)) lost++
    }
    for (const cookie of visitor.dead) {
      checked++
      const ghost: Visitor = { jar: new Map([[COOKIE, cookie]]), acked: 0, user: null, dead: [] }
      const res = await request(server, ghost, '/api/me')
      if (res.status !== 200 || res.body.visits !== 0 || res.body.user !== null) resurrected++
    }
  }

  const crashes = servers.filter(s => s.child.exitCode !== null || s.child.signalCode !== null).length
  const logs = servers.map(s => s.output()).join('\n')
  const unhandled = (logs.match(/unhandledRejection|UnhandledPromiseRejection/g) ?? []).length
  await stopAll()
  await proxy.close()
  const redis = new Redis(redisAddress().url)
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}:*`, 'COUNT', 1000)
    if (keys.length) await redis.del(...keys)
    cursor = next
  } while (cursor !== '0')
  await redis.quit()

  const summary = {
    seconds: SECONDS,
    visitors: visitors.length,
    requests: stats.requests,
    byStatus: Object.fromEntries([...stats.byStatus].sort()),
    cutSeconds: CUT_SECONDS,
    fivexxOutsideCut: stats.outsideCut5xx,
    crashes,
    unhandledRejections: unhandled,
    sessionsChecked: checked,
    lost,
    resurrected,
  }
  process.stdout.write(`soak: ${JSON.stringify(summary)}\n`)
  process.stdout.write(`[figure] soak ${SECONDS} s, 2 instances, Redis cut ${CUT_SECONDS} s: ${stats.requests} requests ${JSON.stringify(summary.byStatus)}, 5xx outside the cut ${stats.outsideCut5xx}, crashes ${crashes}, unhandled rejections ${unhandled}, sessions checked ${checked}, lost ${lost}, resurrected ${resurrected}\n`)
  if (crashes || unhandled || lost || resurrected || stats.outsideCut5xx) process.exitCode = 1
}

main()
  .catch(async (error) => {
    process.stderr.write(`soak failed: ${(error as Error).stack ?? error}\n`)
    await stopAll()
    process.exitCode = 1
  })
  .finally(() => redisService?.stop())
