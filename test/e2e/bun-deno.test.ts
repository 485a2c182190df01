import { mkdtemp, rm } from 'node:fs/promises'
import { DatabaseSync } from 'node:sqlite'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { getRandomPort } from 'get-port-please'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { buildNitroApp, filesUnder } from '../support/nitro-build'
import { baseEnv, run, startServer, stopAll } from '../support/process'
import type { ServerProcess } from '../support/process'
import { freePort, redisBinaries, startRedisServer } from '../support/redis'
import type { RedisProcess } from '../support/redis'
import { itPassesTheRuntimeChecks } from '../support/runtime-checks'
import { Client } from '../support/server'

/**
 * The fixture `test/fixtures/nitro-basic` (zero session options) on Bun and Deno: the node-server
 * build run by each of them, each one's own server preset (`bun`, `deno-server`), and Deno
 * Deploy's preset (`deno-deploy`, also named `deno`) run by a local Deno. The server presets get
 * the module's SQLite default, `<cwd>/.data/session/sessions.sqlite` (through `bun:sqlite` on Bun,
 * `node:sqlite` on Deno); deno-deploy gets memory and a build warning.
 */

const SECRET = 'bun-deno-e2e-secret-0123456789-0123456789'
const FIXTURE = fileURLToPath(new URL('../fixtures/nitro-basic', import.meta.url))
const bin = (name: string) => fileURLToPath(new URL(`../../node_modules/.bin/${name}`, import.meta.url))
const BUN = bin('bun')
const DENO = bin('deno')

/**
 * What a user grants Deno to run the server: the env (Nitro reads its NITRO_* and NUXT_* vars,
 * PORT, HOST), listening on the address, and reading and writing the default session store
 * (relative to the working directory). Nothing remote is fetched: the output imports only
 * relative files, `node:` built-ins and its own `node_modules`.
 */
const DENO_SERVER_PERMISSIONS = ['--allow-env', '--allow-net=127.0.0.1', '--allow-read=.data', '--allow-write=.data']
/** Deno Deploy grants no file system; the build keeps sessions in memory there. */
const DENO_DEPLOY_PERMISSIONS = ['--allow-env', '--allow-net=127.0.0.1']
const DENO_RUN = [DENO, 'run', '--no-prompt', '--no-remote', '--cached-only']

type Preset = 'node-server' | 'bun' | 'deno-server' | 'deno-deploy'

interface Target {
  name: string
  preset: Preset
  command: string[]
  /** The module's default store on this preset. */
  store: 'sqlite' | 'memory'
  /** How the server is told its address, when PORT and HOST do not do it. */
  listen?: (port: number) => Record<string, string>
}

const TARGETS: Target[] = [
  { name: 'Bun running the node-server build', preset: 'node-server', command: [BUN, 'run'], store: 'sqlite' },
  { name: 'Deno running the node-server build', preset: 'node-server', command: [...DENO_RUN, ...DENO_SERVER_PERMISSIONS], store: 'sqlite' },
  { name: 'the bun preset on Bun', preset: 'bun', command: [BUN, 'run'], store: 'sqlite' },
  { name: 'the deno-server preset on Deno', preset: 'deno-server', command: [...DENO_RUN, ...DENO_SERVER_PERMISSIONS], store: 'sqlite' },
  {
    name: 'the deno-deploy preset on a local Deno',
    preset: 'deno-deploy',
    command: [...DENO_RUN, ...DENO_DEPLOY_PERMISSIONS],
    store: 'memory',
    // Deno.serve() with no options listens where DENO_SERVE_ADDRESS says (0.0.0.0:8000 without it).
    listen: port => ({ DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}` }),
  },
]

interface Built {
  entry: string
  /** The module's lines in the build output. */
  warnings: string[]
}

let tmp: string
/** Env for every process: no update check, a Deno cache of our own, no colours in the output. */
let runtimeEnv: Record<string, string>
const builds = new Map<Preset, Promise<Built>>()

/** Builds the fixture for `preset` under `dir`, keeping the module's lines of the build output. */
async function buildFixture(preset: Preset, dir: string): Promise<Built> {
  // Read, not replaced: the output still goes through. Nitro loads the module with jiti, so its
  // logger is not this file's consola and is seen only where a user sees it, on stderr.
  const stderr = vi.spyOn(process.stderr, 'write')
  let output: string[]
  try {
    await buildNitroApp(FIXTURE, dir, { preset })
  }
  finally {
    output = stderr.mock.calls.map(([chunk]) => String(chunk))
    stderr.mockRestore()
  }
  const warnings = output.filter(line => line.includes('[nuxt-server-session]'))
  // deno-deploy bundles everything into one TypeScript entry.
  return { entry: join(dir, '.output/server', preset === 'deno-deploy' ? 'index.ts' : 'index.mjs'), warnings }
}

/** The fixture built once per preset, shared by the targets that run it. */
function built(preset: Preset): Promise<Built> {
  let result = builds.get(preset)
  if (!result) {
    result = buildFixture(preset, join(tmp, preset))
    builds.set(preset, result)
  }
  return result
}

/** Starts `target`'s build of the fixture with `env` in `cwd`, on a free loopback port. */
async function startTarget(target: Target, cwd: string, env: Record<string, string>): Promise<ServerProcess> {
  const { entry } = await built(target.preset)
  const port = await getRandomPort('127.0.0.1')
  return startServer(entry, { cwd, command: target.command, port, env: { ...runtimeEnv, ...target.listen?.(port), ...env } })
}

/** A client of `server` holding the session cookie of `from`, as a browser keeps it across a restart. */
function withCookieOf(from: Client, server: ServerProcess): Client {
  const c = new Client(server.url)
  c.jar.set('__Host-sid', from.jar.get('__Host-sid')!)
  return c
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'nss-bun-deno-'))
  runtimeEnv = { DENO_NO_UPDATE_CHECK: '1', DENO_DIR: join(tmp, 'deno-dir'), NO_COLOR: '1' }
})

afterAll(async () => {
  await stopAll()
  if (tmp) await rm(tmp, { recursive: true, force: true })
})

describe.each(TARGETS)('[nuxt-server-session] $name', (target) => {
  const { preset, command, store, listen } = target
  let entry: string
  let warnings: string[]
  /** The working directory of the server: the default store is `<cwd>/.data/session/sessions.sqlite`. */
  let cwd: string
  let server: ServerProcess
  const start = (env: Record<string, string>, dir = cwd) => startTarget(target, dir, env)

  beforeAll(async () => {
    ({ entry, warnings } = await built(preset))
    cwd = await mkdtemp(join(tmp, `cwd-${preset}-`))
    server = await start({ NUXT_SESSION_SECRET: SECRET })
  }, 60_000)

  afterAll(async () => {
    await server?.stop()
  })

  itPassesTheRuntimeChecks(() => server.url)

  if (store === 'sqlite') {
    it('keeps sessions across a restart with zero configuration (SQLite under <cwd>/.data/session), under the same NUXT_SESSION_SECRET only', async () => {
      expect(warnings).toEqual([])
      const c = new Client(server.url)
      await c.fetch('/api/login?name=erin')
      await c.json('/api/visits')
      expect(await filesUnder(join(cwd, '.data/session'))).toContain('sessions.sqlite')
      await server.stop()
      server = await start({ NUXT_SESSION_SECRET: SECRET })
      const again = withCookieOf(c, server)
      expect(await again.json('/api/me')).toMatchObject({ user: 'erin', visits: 1 })
      expect(await again.json('/api/visits')).toMatchObject({ visits: 2, isNew: false })
      // The same store under another secret: the cookie's signature no longer holds.
      const other = await start({ NUXT_SESSION_SECRET: `${SECRET}-other` })
      try {
        expect(await withCookieOf(c, other).json('/api/me')).toMatchObject({ user: null, visits: 0 })
      }
      finally {
        await other.stop()
      }
      expect(await again.json('/api/me')).toMatchObject({ user: 'erin', visits: 2 })
    })

    it('sweeps expired sessions from the default SQLite database', async () => {
      const dir = await mkdtemp(join(tmp, `cwd-${preset}-sweep-`))
      const sweeping = await start({ NUXT_SESSION_SECRET: SECRET, NUXT_SESSION_TTL: '1', NUXT_SESSION_SWEEP_INTERVAL: '1' }, dir)
      // The test's own connection to the file the server writes (WAL: readers never block it).
      const db = new DatabaseSync(join(dir, '.data/session/sessions.sqlite'))
      const rows = () => Number(db.prepare('SELECT count(*) AS n FROM nss_items').get()!.n)
      try {
        await new Client(sweeping.url).json('/api/visits')
        expect(rows()).toBe(1)
        // A bounded wait for the background sweep (every second): what is checked is that it ran.
        await expect.poll(rows, { timeout: 10_000, interval: 200 }).toBe(0)
      }
      finally {
        db.close()
        await sweeping.stop()
      }
    })
  }
  else {
    it('keeps sessions in memory, per process, after warning at build that a shared store is needed', async () => {
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toMatch(new RegExp(`"${preset}" preset has no shared disk.*Configure a shared store for the "session" storage mount`))
      const c = new Client(server.url)
      await c.fetch('/api/login?name=erin')
      expect(await c.json('/api/me')).toMatchObject({ user: 'erin' })
      expect(await filesUnder(join(cwd, '.data'))).toEqual([])
      await server.stop()
      server = await start({ NUXT_SESSION_SECRET: SECRET })
      expect(await withCookieOf(c, server).json('/api/me')).toMatchObject({ user: null, visits: 0 })
    })
  }

  it.each([
    ['without a secret', {}],
    ['with a short NUXT_SESSION_SECRET', { NUXT_SESSION_SECRET: 'too-short-secret' }],
  ])('refuses to start %s, naming NUXT_SESSION_SECRET', async (_, env: Record<string, string>) => {
    const [program, ...args] = command
    const result = await run(program!, [...args, entry], {
      cwd,
      env: { ...baseEnv(), ...runtimeEnv, PORT: '0', HOST: '127.0.0.1', ...listen?.(0), ...env },
      timeout: 15_000,
    })
    expect(result.code).not.toBe(0)
    expect(result.code).not.toBeNull()
    expect(result.output).toMatch(/Missing or short session secret\. Set NUXT_SESSION_SECRET/)
    expect(result.output).not.toContain('too-short-secret')
  })
})

const binaries = redisBinaries()
if (!binaries.ok) console.log(`[skip] Redis on Bun and Deno skipped: ${binaries.reason}`)

/**
 * The Redis store chosen at run time (NUXT_SESSION_REDIS_URL), through ioredis on each runtime's
 * node:net; on deno-deploy it is the shared store the build warning asks for.
 */
describe.skipIf(!binaries.ok)('[nuxt-server-session] Redis store chosen at run time on Bun and Deno', () => {
  let redis: RedisProcess

  beforeAll(async () => {
    redis = await startRedisServer(await freePort())
  })

  afterAll(async () => {
    await redis?.stop()
  })

  describe.each(TARGETS.filter(t => t.preset !== 'node-server'))('$name, on Redis', (target) => {
    let cwd: string
    let server: ServerProcess
    const start = () => startTarget(target, cwd, { NUXT_SESSION_SECRET: SECRET, NUXT_SESSION_REDIS_URL: `redis://127.0.0.1:${redis.port}`, NUXT_SESSION_REDIS_PREFIX: `nss-${target.preset}` })

    beforeAll(async () => {
      cwd = await mkdtemp(join(tmp, `cwd-${target.preset}-redis-`))
      server = await start()
    }, 60_000)

    afterAll(async () => {
      await server?.stop()
    })

    itPassesTheRuntimeChecks(() => server.url)

    it('keeps sessions across a restart in Redis, with nothing on disk', async () => {
      const c = new Client(server.url)
      await c.fetch('/api/login?name=erin')
      await c.json('/api/visits')
      await server.stop()
      server = await start()
      expect(await withCookieOf(c, server).json('/api/me')).toMatchObject({ user: 'erin', visits: 1 })
      expect(await filesUnder(join(cwd, '.data'))).toEqual([])
    })
  })
})
