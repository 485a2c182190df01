/**
 * A private PgBouncer for the tests, in front of a PostgreSQL server: `pgbouncer` on a free
 * 127.0.0.1 port with a generated ini in a temporary directory (its log file there too, no Unix
 * socket), trust auth for the users of its auth file (whose passwords, when given, are the ones
 * PgBouncer logs in to the server with). PgBouncer refuses to run as root, so as root it runs as
 * the `postgres` system user (Debian's package makes it) or else `nobody`, through spawn's
 * uid/gid, like test/support/postgres.ts.
 *
 * Imported by the global setup (test/support/provide.ts) too, so: relative imports with `.ts`,
 * erasable syntax only.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { accessSync, chownSync, constants, rmSync, writeFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { serverUser } from './postgres.ts'
import { freePort } from './redis.ts'

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** The `pgbouncer` binary: the PATH's, or Debian's in /usr/sbin (not on a non-root PATH). */
export function pgbouncerBinary(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/local/sbin']
  for (const dir of dirs) {
    const file = join(dir, 'pgbouncer')
    try {
      accessSync(file, constants.X_OK)
      return file
    }
    catch {
      // not here
    }
  }
  return undefined
}

export interface PgBouncerProcess {
  port: number
  /** Its process (not daemonized: `child.pid` is PgBouncer's PID). */
  child: ChildProcess
  /** `postgres://<user>[:<password>]@127.0.0.1:<port>/<database>` (database `postgres` by default). */
  url: (user: string, database?: string) => string
  /** The generated ini, as written. */
  ini: string
  /** The last 8000 characters of its log (stderr). */
  log: () => string
  stop: () => Promise<void>
}

const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/** The auth file's quoting: a `"` inside a value is doubled. */
const quoted = (text: string) => `"${text.replaceAll('"', '""')}"`

/**
 * Starts a private PgBouncer in front of the PostgreSQL at `server` (a postgres:// URL; every
 * database of it, by name) and resolves once it answers a query through it, or rejects after
 * `timeout` ms. `users` (name to password, `''` for none; the server URL's user by default) are
 * the auth file: each may log in (trust), and PgBouncer logs in to the server as that user with
 * that password. `settings` are more `[pgbouncer]` settings (`pool_mode` is `transaction` unless
 * given). `stop()` stops it by its PID (SIGTERM, an immediate shutdown; SIGKILL after 5 s) and
 * removes its directory.
 */
export async function startPgBouncer(server: string, options: { users?: Record<string, string>, settings?: Record<string, string | number>, timeout?: number } = {}): Promise<PgBouncerProcess> {
  const bin = pgbouncerBinary()
  if (!bin) throw new Error('pgbouncer not found (Debian: apt-get install -y pgbouncer)')
  const target = new URL(server)
  const users = options.users ?? { [decodeURIComponent(target.username) || 'postgres']: decodeURIComponent(target.password) }
  const first = Object.keys(users)[0]
  if (!first) throw new Error('startPgBouncer needs at least one user')
  const user = serverUser()
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'nss-test-pgbouncer-'))
  const removeDir = () => rmSync(dir, { recursive: true, force: true })
  const owned = (file: string, text: string) => {
    writeFileSync(file, text, { mode: 0o600 })
    if (user.uid !== undefined) chownSync(file, user.uid, user.gid!)
  }
  if (user.uid !== undefined) chownSync(dir, user.uid, user.gid!)
  const settings: Record<string, string | number> = {
    listen_addr: '127.0.0.1',
    listen_port: port,
    unix_socket_dir: '',
    auth_type: 'trust',
    auth_file: join(dir, 'userlist.txt'),
    logfile: join(dir, 'pgbouncer.log'),
    pidfile: join(dir, 'pgbouncer.pid'),
    pool_mode: 'transaction',
    max_client_conn: 200,
    ...options.settings,
  }
  const host = target.hostname.replace(/^\[|\]$/g, '')
  const ini = [
    '[databases]',
    `* = host=${host} port=${target.port || 5432}`,
    '',
    '[pgbouncer]',
    ...Object.entries(settings).map(([name, value]) => `${name} = ${value}`),
    '',
  ].join('\n')
  owned(join(dir, 'userlist.txt'), Object.entries(users).map(([name, password]) => `${quoted(name)} ${quoted(password)}\n`).join(''))
  owned(join(dir, 'pgbouncer.ini'), ini)

  const child = spawn(bin, [join(dir, 'pgbouncer.ini')], { ...user, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
  running.add(child)
  let log = ''
  child.stderr!.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-8000)
  })
  let spawnError: Error | undefined
  child.once('error', (error) => {
    spawnError = error
  })
  const exited = new Promise<void>(resolve => child.once('exit', () => {
    running.delete(child)
    resolve()
  }))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && !spawnError) {
      child.kill('SIGTERM') // immediate shutdown (SIGINT would wait for the clients)
      const forced = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(forced)
    }
    removeDir()
  }
  const url = (name: string, database = 'postgres') => {
    const password = users[name]
    return `postgres://${encodeURIComponent(name)}${password ? `:${encodeURIComponent(password)}` : ''}@127.0.0.1:${port}/${encodeURIComponent(database)}`
  }
  const deadline = Date.now() + (options.timeout ?? 15_000)
  for (;;) {
    // A plain client sends no startup parameter PgBouncer could refuse.
    const client = new pg.Client({ connectionString: url(first, decodeURIComponent(target.pathname.slice(1)) || 'postgres'), connectionTimeoutMillis: 1000 })
    client.on('error', () => {})
    try {
      await client.connect()
      await client.query('SELECT 1')
      await client.end()
      break
    }
    catch (error) {
      await client.end().catch(() => {})
      if (spawnError || child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        await stop()
        throw new Error(`pgbouncer did not start on 127.0.0.1:${port}: ${spawnError?.message ?? (log.trim().split('\n').pop() || (error as Error).message)}`, { cause: error })
      }
      await sleep(100)
    }
  }
  return { port, child, url, ini, log: () => log, stop }
}
