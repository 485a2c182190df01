/**
 * What the tests need beyond node_modules, provided by the test run itself (the vitest global
 * setup, and `npm run soak`): one function per service. Each either makes the service available
 * (a private server on a free loopback port, or an `apt-get install` on Debian as root) or throws
 * a `SetupError`: one line naming what is missing and how to get it. Every wait is bounded.
 *
 * Imported by `node scripts/soak.ts` too, so: relative imports with `.ts`, erasable syntax only.
 */
import { spawnSync } from 'node:child_process'
import { accessSync, constants, existsSync, rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import pg from 'pg'
import { pgbouncerBinary } from './pgbouncer.ts'
import { postgresBinDir, startPostgresServer } from './postgres.ts'
import { freePort, redisBinaries, startRedisServer } from './redis.ts'

const TAG = '[nuxt-server-session tests]'

/** A set-up failure: a single line (its stack is the message alone, so nothing else is printed). */
export class SetupError extends Error {
  constructor(message: string) {
    super(`${TAG} ${message.replace(/\s*\n\s*/g, ' ')}`)
    this.name = 'SetupError'
    this.stack = this.message
  }
}

/** A provided service; `stop()` undoes what was started for it (nothing for a configured one). */
export interface Provided {
  stop: () => Promise<void>
}

const firstLine = (error: unknown) => String((error as Error)?.message ?? error).split('\n')[0]

/** Whether missing system packages may be installed here: Debian (or a derivative) as root. */
function canApt(): boolean {
  return existsSync('/etc/debian_version') && process.getuid?.() === 0
}

let aptUpdated = false

/** `apt-get install -y -qq packages`, after one `apt-get update -qq` per process; bounded in time. */
function aptInstall(packages: string[]): void {
  const run = (args: string[]) => {
    const result = spawnSync('apt-get', args, {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      encoding: 'utf8',
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 15 * 60_000,
    })
    if (result.error || result.status !== 0) {
      const last = result.stderr?.trim().split('\n').pop()
      throw new SetupError(`apt-get ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`})${last ? `: ${last}` : ''}`)
    }
  }
  process.stderr.write(`${TAG} installing ${packages.join(' ')} with apt-get\n`)
  if (!aptUpdated) {
    run(['update', '-qq'])
    aptUpdated = true
  }
  run(['install', '-y', '-qq', ...packages])
}

/** Resolves once the Redis at `url` answers PING; a SetupError after `ms` ms. */
async function checkRedis(url: string, ms = 3000): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: ms, commandTimeout: ms, maxRetriesPerRequest: 0, retryStrategy: () => null })
  let cause: unknown
  redis.on('error', (error) => {
    cause ??= error
  })
  try {
    await redis.connect()
    const pong = await redis.ping()
    if (pong !== 'PONG') throw new Error(`PING answered ${pong}`)
  }
  catch (error) {
    throw new SetupError(`NSS_TEST_REDIS_URL=${url} does not answer PING within ${ms} ms (${firstLine(cause ?? error)}): start that Redis, or unset NSS_TEST_REDIS_URL to let the tests start their own redis-server`)
  }
  finally {
    redis.disconnect()
  }
}

/**
 * Redis: `NSS_TEST_REDIS_URL` when set (it must answer PING), else a private `redis-server` on a
 * free 127.0.0.1 port (no persistence, its own temporary directory), whose URL is then put in
 * `process.env.NSS_TEST_REDIS_URL` for the test workers and the servers they start. Installs
 * redis-server and redis-cli on Debian as root when missing (the Redis Cluster tests start their
 * own servers with them, a configured URL or not).
 */
export async function provideRedis(): Promise<Provided> {
  let binaries = redisBinaries()
  let installed = false
  if (!binaries.ok && canApt()) {
    aptInstall(['redis-server', 'redis-tools'])
    installed = true
    binaries = redisBinaries()
  }
  const configured = process.env.NSS_TEST_REDIS_URL
  if (configured) {
    await checkRedis(configured)
    return { stop: async () => {} }
  }
  if (!binaries.ok) {
    const missing = binaries.reason.startsWith('redis-cli') ? 'redis-cli' : 'redis-server'
    throw new SetupError(installed
      ? `${missing} not found on the PATH even after apt-get install redis-server redis-tools: ${binaries.reason}`
      : `${missing} not found: install it (Debian: apt-get install -y redis-server) or set NSS_TEST_REDIS_URL`)
  }
  const dir = await mkdtemp(join(tmpdir(), 'nss-test-redis-'))
  // If this process exits without stop() (a forced exit), redis.ts kills the server; this removes its directory.
  const removeDir = () => rmSync(dir, { recursive: true, force: true })
  process.once('exit', removeDir)
  try {
    const server = await startRedisServer(await freePort(), ['--dir', dir], { cwd: dir, timeout: 10_000 })
    const url = `redis://127.0.0.1:${server.port}`
    process.env.NSS_TEST_REDIS_URL = url
    return {
      stop: async () => {
        if (process.env.NSS_TEST_REDIS_URL === url) delete process.env.NSS_TEST_REDIS_URL
        await server.stop()
        await rm(dir, { recursive: true, force: true })
        process.off('exit', removeDir)
      },
    }
  }
  catch (error) {
    await rm(dir, { recursive: true, force: true })
    process.off('exit', removeDir)
    throw new SetupError(`the tests' private redis-server did not start: ${firstLine(error)}`)
  }
}

/** Resolves once the PostgreSQL at `url` answers a query; a SetupError after `ms` ms. */
async function checkPostgres(url: string, ms = 5000): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: ms, query_timeout: ms })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('SELECT 1')
  }
  catch (error) {
    throw new SetupError(`NSS_TEST_POSTGRES_URL does not answer within ${ms} ms (${firstLine(error)}): start that PostgreSQL, or unset NSS_TEST_POSTGRES_URL to let the tests start their own`)
  }
  finally {
    await client.end().catch(() => {})
  }
}

/**
 * PostgreSQL: `NSS_TEST_POSTGRES_URL` when set (a role that may create schemas and databases;
 * the tests only ever drop what they created), else a private server (`initdb` into a temporary
 * directory, on a free 127.0.0.1 port, as the postgres user when this runs as root), whose URL
 * is then put in `process.env.NSS_TEST_POSTGRES_URL`. Installs postgresql on Debian as root
 * when missing. The private server trades durability for speed (fsync off): nothing in it outlives the run.
 */
export async function providePostgres(): Promise<Provided> {
  const configured = process.env.NSS_TEST_POSTGRES_URL
  if (configured) {
    await checkPostgres(configured)
    return { stop: async () => {} }
  }
  if (!postgresBinDir() && canApt()) aptInstall(['postgresql'])
  if (!postgresBinDir()) throw new SetupError('PostgreSQL not found (initdb and postgres): install it (Debian: apt-get install -y postgresql) or set NSS_TEST_POSTGRES_URL')
  try {
    const server = await startPostgresServer(await freePort(), { settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' } })
    process.env.NSS_TEST_POSTGRES_URL = server.url
    return {
      stop: async () => {
        if (process.env.NSS_TEST_POSTGRES_URL === server.url) delete process.env.NSS_TEST_POSTGRES_URL
        await server.stop()
      },
    }
  }
  catch (error) {
    throw new SetupError(`the tests' private PostgreSQL did not start: ${firstLine(error)}`)
  }
}

/**
 * PgBouncer: only its binary (test/store/postgres-pgbouncer.test.ts starts private ones, in
 * front of the run's PostgreSQL, with test/support/pgbouncer.ts). Installs pgbouncer on Debian
 * as root when missing.
 */
export async function providePgBouncer(): Promise<Provided> {
  if (!pgbouncerBinary() && canApt()) aptInstall(['pgbouncer'])
  if (!pgbouncerBinary()) throw new SetupError('pgbouncer not found (for test/store/postgres-pgbouncer.test.ts): install it (Debian: apt-get install -y pgbouncer)')
  return { stop: async () => {} }
}

/** The Chromium that test/e2e/browser.test.ts drives (Debian's; never a downloaded browser). */
export const CHROMIUM = '/usr/bin/chromium'

function runnable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK)
    return true
  }
  catch {
    return false
  }
}

/** Chromium at `CHROMIUM`: installed with apt on Debian as root when missing. */
export async function provideChromium(): Promise<Provided> {
  if (!runnable(CHROMIUM) && canApt()) aptInstall(['chromium'])
  if (!runnable(CHROMIUM)) {
    throw new SetupError(`Chromium not found at ${CHROMIUM} (for test/e2e/browser.test.ts): install it (Debian: apt-get install -y chromium)`)
  }
  return { stop: async () => {} }
}
