import { request } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { DatabaseSync } from 'node:sqlite'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setup, useTestContext } from '@nuxt/test-utils/e2e'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { userKeyOf } from '../../src/runtime/server/core/session'
import { figure } from '../support/figure'
import { startServer, stopAll } from '../support/process'
import type { ServerProcess } from '../support/process'
import { Client } from '../support/server'

/**
 * The module's default store, the SQLite database `<cwd>/.data/session/sessions.sqlite`, shared
 * by several server processes of one built Nuxt app with zero session options
 * (test/fixtures/sqlite-cluster, preset node-cluster): the build run with two workers
 * (NITRO_CLUSTER_WORKERS=2, one port), and the same build run as two instances on two ports
 * (one worker each), in one working directory. Parallel sign-ins of one user, revoking them all,
 * parallel disjoint writes to one session and the per-user cap, each served by both processes.
 */

const SECRET = 'sqlite-cluster-e2e-secret-0123456789-0123456789'
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** The pid of the process that answers `/api/pid` on a connection of its own (node-cluster hands connections out in turn). */
function pidOnce(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/api/pid`, { agent: false, timeout: 5000 }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => {
        try {
          resolve((JSON.parse(body) as { pid: number }).pid)
        }
        catch (error) {
          reject(error)
        }
      })
    })
    req.on('timeout', () => req.destroy(new Error('no answer from /api/pid within 5 s')))
    req.on('error', reject)
    req.end()
  })
}

/** Whether the process `pid` still runs. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  }
  catch {
    return false
  }
}

interface Deployment {
  name: string
  /** Server processes started from the build's entry, each on its own port. */
  instances: number
  /** NITRO_CLUSTER_WORKERS of each. */
  workers: number
}

const DEPLOYMENTS: Deployment[] = [
  { name: 'a node-cluster build with two workers (NITRO_CLUSTER_WORKERS=2, one port)', instances: 1, workers: 2 },
  { name: 'the same build as two instances on two ports (one worker each)', instances: 2, workers: 1 },
]

describe('[nuxt-server-session] the SQLite default shared by several server processes of one Nuxt build', async () => {
  await setup({ rootDir: fileURLToPath(new URL('../fixtures/sqlite-cluster', import.meta.url)), server: false })
  let entry: string
  let tmp: string
  /** Every worker pid seen: stopped with their primaries, checked to be gone afterwards. */
  const workerPids = new Set<number>()

  beforeAll(async () => {
    entry = join(useTestContext().nuxt!.options.nitro.output!.dir!, 'server/index.mjs')
    tmp = await mkdtemp(join(tmpdir(), 'nss-sqlite-cluster-'))
  })
  afterAll(async () => {
    await stopAll()
    // A worker ends when its primary does (the IPC channel closes); wait for that, bounded.
    const deadline = Date.now() + 10_000
    while ([...workerPids].some(alive) && Date.now() < deadline) await sleep(100)
    for (const pid of workerPids) {
      if (alive(pid)) process.kill(pid, 'SIGKILL')
    }
    if (tmp) await rm(tmp, { recursive: true, force: true })
  })

  describe.each(DEPLOYMENTS)('$name, one working directory (one database file)', ({ instances, workers }) => {
    let cwd: string
    let servers: ServerProcess[]
    let pids: number[]
    let users = 0
    const newUser = (base: string) => `${base}-${instances}-${++users}`
    const label = instances === 1 ? `node-cluster, ${workers} workers` : `${instances} instances`

    /** Starts the deployment in `cwd` and waits (bounded) until every worker answered; its URLs and worker pids. */
    async function deploy(env: Record<string, string> = {}): Promise<{ servers: ServerProcess[], pids: number[] }> {
      const started = await Promise.all(Array.from({ length: instances }, () => startServer(entry, {
        cwd,
        timeout: 30_000,
        env: { NUXT_SESSION_SECRET: SECRET, NITRO_CLUSTER_WORKERS: String(workers), NITRO_SHUTDOWN_TIMEOUT: '2000', ...env },
      })))
      const seen = new Set<number>()
      const deadline = Date.now() + 20_000
      for (let round = 0; seen.size < instances * workers && round < 200 && Date.now() < deadline; round++) {
        for (const pid of await Promise.all(started.flatMap(s => Array.from({ length: 4 }, () => pidOnce(s.url).catch(() => 0))))) {
          if (pid) seen.add(pid)
        }
        if (seen.size < instances * workers) await sleep(100)
      }
      for (const pid of seen) workerPids.add(pid)
      return { servers: started, pids: [...seen] }
    }

    /** One browser: its own cookie jar, its requests going to `url`. */
    const browser = (url: string, jar = new Map<string, string>()) => Object.assign(new Client(url), { jar })

    /** How many rows of the database name the user: its devices index, as stored. */
    async function indexRows(user: string): Promise<number> {
      const db = new DatabaseSync(join(cwd, '.data/session/sessions.sqlite'))
      try {
        return Number(db.prepare('SELECT count(*) AS n FROM nss_items WHERE user_key = ?').get(await userKeyOf(user))!.n)
      }
      finally {
        db.close()
      }
    }

    /** `count` browsers sign `user` in at once, spread over `on`; how many answered 200, and which pids served them. */
    async function signInAtOnce(on: ServerProcess[], user: string, count: number) {
      const browsers = Array.from({ length: count }, (_, i) => browser(on[i % on.length]!.url))
      const responses = await Promise.all(browsers.map(b => b.fetch(`/api/sign-in?user=${user}`)))
      const bodies = await Promise.all(responses.map(r => r.json()))
      return { browsers, statuses: responses.map(r => r.status), servedBy: new Set(bodies.map(b => b.pid as number | undefined).filter(Boolean)) }
    }

    const signedIn = async (browsers: Client[], user: string) => (await Promise.all(browsers.map(async b => (await b.json('/api/me')).userId === user))).filter(Boolean).length

    beforeAll(async () => {
      cwd = await mkdtemp(join(tmp, `cwd-${instances}-`))
      ;({ servers, pids } = await deploy())
    }, 60_000)
    afterAll(async () => {
      await Promise.all((servers ?? []).map(s => s.stop()))
    })

    it('every worker serves requests: as many worker pids as expected, none of them a primary\'s', async () => {
      expect(pids).toHaveLength(instances * workers)
      const primaries = servers.map(s => s.child.pid)
      for (const pid of pids) expect(primaries).not.toContain(pid)
      // Each instance is served by workers of its own.
      if (instances > 1) {
        const per = await Promise.all(servers.map(async s => new Set(await Promise.all(Array.from({ length: 6 }, () => pidOnce(s.url))))))
        expect(per.map(set => set.size)).toEqual(servers.map(() => workers))
        expect(new Set(per.flatMap(set => [...set])).size).toBe(instances * workers)
      }
    })

    it('30 parallel sign-ins of one user: 30 listed, the index holds 30 rows; after revokeServerSessions(event, { userId }) 0 of 30 are still signed in', async () => {
      const user = newUser('ada')
      const { browsers, statuses, servedBy } = await signInAtOnce(servers, user, 30)
      expect(statuses).toEqual(Array.from({ length: 30 }, () => 200))
      const listed = (await browsers[0]!.json(`/api/list?user=${user}`)).length
      const rows = await indexRows(user)
      const before = await signedIn(browsers, user)
      // "Sign out everywhere", from another process than the first sign-in where there are two.
      expect((await browser(servers.at(-1)!.url).fetch(`/api/revoke-all?user=${user}`)).status).toBe(200)
      const after = await signedIn(browsers, user)
      const listedAfter = (await browsers[1]!.json(`/api/list?user=${user}`)).length
      figure(`${label}, SQLite default store: 30 parallel sign-ins of one user (served by ${servedBy.size} processes): ${listed}/30 listed, ${before}/30 signed in; after revokeServerSessions({ userId }): ${after}/30 still signed in, ${listedAfter} listed`)
      expect(servedBy.size).toBe(instances * workers)
      expect({ listed, rows, before }).toEqual({ listed: 30, rows: 30, before: 30 })
      expect({ after, listedAfter, rows: await indexRows(user) }).toEqual({ after: 0, listedAfter: 0, rows: 0 })
    }, 60_000)

    it('50 parallel requests with one session, each setting its own key, served by every process: 50/50 kept', async () => {
      const jar = new Map<string, string>()
      const tabs = servers.map(s => browser(s.url, jar))
      expect((await tabs[0]!.fetch('/api/set?key=init')).status).toBe(200)
      const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => tabs[i % tabs.length]!.fetch(`/api/set?key=k${i}`)))
      expect(responses.map(r => r.status)).toEqual(Array.from({ length: 50 }, () => 200))
      const servedBy = new Set((await Promise.all(responses.map(r => r.json()))).map(b => b.pid as number))
      const { data, isNew } = await tabs.at(-1)!.json('/api/me')
      expect(isNew).toBe(false)
      const kept = Array.from({ length: 50 }, (_, i) => `k${i}`).filter(k => data[k] === true).length
      figure(`${label}, SQLite default store: 50 parallel disjoint writes to one session (served by ${servedBy.size} processes): ${kept}/50 kept`)
      expect(servedBy.size).toBe(instances * workers)
      expect(data.init).toBe(true)
      expect(kept).toBe(50)
    }, 60_000)

    it('NUXT_SESSION_MAX_SESSIONS_PER_USER=2 holds under 10 parallel sign-ins (evict-oldest, and refuse with NUXT_SESSION_SESSION_LIMIT), 5 rounds each', async () => {
      const results: Record<string, { alive: number, listed: number, ok: number }[]> = { 'evict-oldest': [], 'refuse': [] }
      for (const limit of ['evict-oldest', 'refuse'] as const) {
        const capped = await deploy({ NUXT_SESSION_MAX_SESSIONS_PER_USER: '2', NUXT_SESSION_SESSION_LIMIT: limit })
        try {
          for (let round = 0; round < 5; round++) {
            const user = newUser(limit)
            const { browsers, statuses } = await signInAtOnce(capped.servers, user, 10)
            expect(statuses.filter(s => s !== 200 && (limit === 'evict-oldest' || s !== 409))).toEqual([])
            results[limit]!.push({ alive: await signedIn(browsers, user), listed: (await browsers[0]!.json(`/api/list?user=${user}`)).length, ok: statuses.filter(s => s === 200).length })
          }
        }
        finally {
          await Promise.all(capped.servers.map(s => s.stop()))
        }
      }
      figure(`${label}, SQLite default store, NUXT_SESSION_MAX_SESSIONS_PER_USER=2, 10 parallel sign-ins of one user, 5 rounds: evict-oldest left ${results['evict-oldest']!.map(r => r.alive).join('/')} signed in; refuse let ${results.refuse!.map(r => r.alive).join('/')} in`)
      expect(results['evict-oldest']).toEqual(Array.from({ length: 5 }, () => ({ alive: 2, listed: 2, ok: 10 })))
      expect(results.refuse).toEqual(Array.from({ length: 5 }, () => ({ alive: 2, listed: 2, ok: 2 })))
    }, 120_000)
  })
})
