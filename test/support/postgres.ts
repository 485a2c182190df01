/**
 * A private PostgreSQL server for the tests and the benchmark: `initdb` into a temporary
 * directory and `postgres` on a free 127.0.0.1 port, trust auth for the `postgres` role, no Unix
 * socket outside that directory. PostgreSQL refuses to run as root, so as root both run as the
 * `postgres` system user (Debian's package makes it) or else `nobody`, through spawn's uid/gid.
 *
 * Imported by the global setup and by bench/run.mjs too, so: relative imports with `.ts`,
 * erasable syntax only.
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { chownSync, existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'

/** The directory holding `initdb` and `postgres`: the newest Debian one, or the PATH's. */
export function postgresBinDir(): string | undefined {
  const debian = '/usr/lib/postgresql'
  if (existsSync(debian)) {
    const versions = readdirSync(debian).filter(v => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
    for (const version of versions) {
      const dir = join(debian, version, 'bin')
      if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))) return dir
    }
  }
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))) return dir
  }
  return undefined
}

/** Who runs the server (PostgreSQL, PgBouncer): this process, or as root a system user they accept. */
export function serverUser(): { uid?: number, gid?: number } {
  if (process.getuid?.() !== 0) return {}
  for (const name of ['postgres', 'nobody']) {
    const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' })
    const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' })
    if (uid.status === 0 && gid.status === 0) return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) }
  }
  throw new Error('running as root, and neither a postgres nor a nobody user exists to run PostgreSQL or PgBouncer as')
}

export interface PostgresProcess {
  port: number
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (`postgres:<password>@` with a password) */
  url: string
  child: ChildProcess
  stop: () => Promise<void>
}

const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/**
 * Starts a private PostgreSQL on `port` (127.0.0.1 only); resolves once it accepts a query, or
 * rejects after `timeout` ms. `settings` are `-c name=value` server settings. With `password`,
 * every login needs it (scram-sha-256 for the `postgres` role) instead of trust auth. `stop()`
 * shuts it down (fast mode) and removes its directory.
 */
export async function startPostgresServer(port: number, options: { settings?: Record<string, string | number>, timeout?: number, password?: string } = {}): Promise<PostgresProcess> {
  const bin = postgresBinDir()
  if (!bin) throw new Error('initdb and postgres not found (Debian: apt-get install -y postgresql)')
  const user = serverUser()
  const dir = await mkdtemp(join(tmpdir(), 'nss-test-postgres-'))
  const data = join(dir, 'data')
  const removeDir = () => rmSync(dir, { recursive: true, force: true })
  if (user.uid !== undefined) chownSync(dir, user.uid, user.gid!)
  let auth = ['--auth=trust']
  if (options.password !== undefined) {
    // initdb reads the superuser's password from a file (the first line), readable by the server's user.
    const pwfile = join(dir, 'pwfile')
    writeFileSync(pwfile, `${options.password}\n`, { mode: 0o600 })
    if (user.uid !== undefined) chownSync(pwfile, user.uid, user.gid!)
    auth = ['--auth=scram-sha-256', `--pwfile=${pwfile}`]
  }
  const initdb = spawnSync(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', ...auth, '--encoding=UTF8', '--no-locale', '--no-sync'], { ...user, cwd: dir, encoding: 'utf8', timeout: 60_000 })
  if (initdb.status !== 0) {
    removeDir()
    throw new Error(`initdb failed: ${(initdb.stderr || initdb.error?.message || '').trim().split('\n').pop()}`)
  }
  const settings = { listen_addresses: '127.0.0.1', port, unix_socket_directories: dir, max_connections: 200, ...options.settings }
  const args = ['-D', data, ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`])]
  const child = spawn(join(bin, 'postgres'), args, { ...user, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
  running.add(child)
  let log = ''
  child.stderr!.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000)
  })
  const exited = new Promise<void>(resolve => child.once('exit', () => {
    running.delete(child)
    resolve()
  }))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT') // fast shutdown
      const forced = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(forced)
    }
    removeDir()
  }
  const login = options.password === undefined ? 'postgres' : `postgres:${encodeURIComponent(options.password)}`
  const url = `postgres://${login}@127.0.0.1:${port}/postgres`
  const deadline = Date.now() + (options.timeout ?? 30_000)
  for (;;) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 })
    try {
      await client.connect()
      await client.query('SELECT 1')
      await client.end()
      break
    }
    catch (error) {
      await client.end().catch(() => {})
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop()
        throw new Error(`postgres did not start on 127.0.0.1:${port}: ${log.trim().split('\n').pop() || (error as Error).message}`, { cause: error })
      }
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }
  return { port, url, child, stop }
}
