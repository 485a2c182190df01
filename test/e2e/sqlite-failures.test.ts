/**
 * The module's default store, the SQLite database, when its file fails: corrupt, read-only, on a
 * missing path, locked by another process, on a full disk. At start a production server refuses
 * to start with one line naming the file and the problem, and leaves the file as it was; while
 * it runs, each request that needs the failing part of the store gets a 503, requests that do
 * not need it are served, and nothing stored before is lost or replaced by a fresh session.
 *
 * One node-server build of test/fixtures/nitro-basic, real SQLite files, real HTTP. The file
 * systems that fail are real too (the tests run as root): a tmpfs remounted read-only, a small
 * tmpfs filled up, an ext4 image on a loop device that the kernel turns read-only after an error
 * (errors=remount-ro), as a failing disk does. Where mounting is not permitted, the case is
 * skipped with a logged `[skip]` reason.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { access, constants, mkdir, mkdtemp, open, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { createApp, createRouter, defineEventHandler } from 'h3'
import { createStorage } from 'unstorage'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { UnstorageSessionStore, sessionSqliteDriver, useSession } from 'nuxt-server-session/h3'
import { buildNitroApp, filesUnder } from '../support/nitro-build'
import { baseEnv, run, startServer, stopAll } from '../support/process'
import type { ServerProcess } from '../support/process'
import { Client, serve } from '../support/server'

const SECRET = 'sqlite-failures-secret-0123456789-0123456789'
/** Short, so that a lock held longer than it costs the test little; the default is 5000. */
const STORE_TIMEOUT = 1500
const FIXTURE = fileURLToPath(new URL('../fixtures/nitro-basic', import.meta.url))
const COOKIE = '__Host-sid'

/** A process of its own that holds a lock on the database until told to let go (a line on stdin). */
const LOCKER = `
const { DatabaseSync } = require('node:sqlite')
const [file, mode] = process.argv.slice(2)
const db = new DatabaseSync(file, { timeout: 5000 })
if (mode === 'exclusive') {
  // No other connection may even read: what another program that opens the file this way does.
  db.exec('PRAGMA locking_mode = EXCLUSIVE')
  db.exec('BEGIN EXCLUSIVE')
} else {
  // The write lock, held by a long write transaction (readers go on, in WAL mode).
  db.exec('BEGIN IMMEDIATE')
  db.exec("INSERT OR REPLACE INTO nss_meta (key, value) VALUES ('locker', 'x')")
}
process.stdout.write('locked\\n')
process.stdin.once('data', () => {
  db.exec('ROLLBACK')
  db.close()
  process.exit(0)
})
`

describe('[nuxt-server-session] the SQLite default store when its file fails (node-server build)', () => {
  let tmp: string
  let entry: string
  let locker: string
  /** Mount points to unmount at the end, last first. */
  const mounts: string[] = []
  const lockers = new Set<ChildProcess>()
  /** Why mounting cannot be tested here, or undefined when it can. */
  let noMount: string | undefined

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'nss-sqlite-failures-'))
    entry = join(await buildNitroApp(FIXTURE, tmp), 'server/index.mjs')
    locker = join(tmp, 'locker.cjs')
    await writeFile(locker, LOCKER)
    const probe = join(tmp, 'mount-probe')
    await mkdir(probe)
    const mounted = await sh('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe])
    if (mounted.code === 0) {
      if ((await sh('umount', [probe])).code !== 0) mounts.push(probe)
    }
    else noMount = `mount -t tmpfs is not permitted here (${mounted.output.trim().split('\n')[0]})`
  }, 120_000)

  afterAll(async () => {
    for (const child of lockers) child.kill('SIGKILL')
    await stopAll()
    for (const dir of mounts.reverse()) {
      const result = await sh('umount', [dir])
      if (result.code !== 0) await sh('umount', ['-l', dir])
    }
    if (tmp) await rm(tmp, { recursive: true, force: true })
  }, 60_000)

  /** Runs a command to its end within 15 s; its exit code and output. */
  function sh(command: string, args: string[]) {
    return run(command, args, { cwd: tmpdir(), env: baseEnv(), timeout: 15_000 }).catch((error: Error) => ({ code: -1, signal: null, output: error.message }))
  }

  async function mountTmpfs(dir: string, size: string): Promise<void> {
    await mkdir(dir, { recursive: true })
    const result = await sh('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir])
    if (result.code !== 0) throw new Error(`mount -t tmpfs ${dir}: ${result.output}`)
    mounts.push(dir)
  }

  async function remount(dir: string, mode: 'ro' | 'rw'): Promise<void> {
    const result = await sh('mount', ['-o', `remount,${mode}`, dir])
    if (result.code !== 0) throw new Error(`mount -o remount,${mode} ${dir}: ${result.output}`)
  }

  /** Skips the test, with the reason in the log. */
  function skipped(ctx: { skip: (note?: string) => void }, reason: string | undefined): boolean {
    if (!reason) return false
    console.log(`[skip] ${reason}`)
    ctx.skip(reason)
    return true
  }

  /** The server, with the session secret and a short storeTimeout; `path`: NUXT_SESSION_SQLITE_PATH. */
  function env(path?: string): Record<string, string> {
    return { NUXT_SESSION_SECRET: SECRET, NUXT_SESSION_STORE_TIMEOUT: String(STORE_TIMEOUT), ...(path ? { NUXT_SESSION_SQLITE_PATH: path } : {}) }
  }

  function start(cwd: string, path?: string): Promise<ServerProcess> {
    return startServer(entry, { cwd, env: env(path) })
  }

  /** Starts the server in production and waits for it to end (it must not start); its exit, output and time. */
  async function startExpectingFailure(cwd: string, path?: string) {
    const started = Date.now()
    const result = await run(process.execPath, [entry], { cwd, env: { ...baseEnv(), PORT: '0', HOST: '127.0.0.1', ...env(path) }, timeout: 20_000 })
    return { ...result, ms: Date.now() - started }
  }

  /** The refusal: a non-zero exit, one line naming the file and the problem, no stack frames, no secret. */
  function expectRefusal(result: { code: number | null, output: string }, file: string, problem: RegExp): void {
    expect(result.code).not.toBeNull()
    expect(result.code).not.toBe(0)
    const lines = result.output.split('\n').filter(line => line.includes(`The session database ${file}`) || line.includes(`session database ${file} does not exist`))
    expect(lines, result.output).toHaveLength(1)
    console.log(`[refusal] exit ${result.code}: ${lines[0]!.trim()}`)
    expect(lines[0]).toMatch(problem)
    expect(lines[0]).toMatch(/The server does not start without its sessions/)
    expect(result.output, 'no stack frames').not.toMatch(/^\s+at\s/m)
    expect(result.output).not.toContain('Listening on')
    expect(result.output).not.toContain(SECRET)
  }

  /** sha-256 of every file under `dir`, by name: the same bytes, and no file added or removed. */
  async function snapshot(dir: string): Promise<Record<string, string>> {
    const files: Record<string, string> = {}
    for (const name of (await filesUnder(dir)).sort()) files[name] = createHash('sha256').update(await readFile(join(dir, name))).digest('hex')
    return files
  }

  /** A signed-in session with one visit; its client. */
  async function signIn(server: ServerProcess, name: string): Promise<Client> {
    const client = new Client(server.url)
    expect((await client.fetch(`/api/login?name=${name}`)).status).toBe(302)
    expect(await client.json('/api/visits')).toEqual({ visits: 1, isNew: false })
    return client
  }

  /** The same browser on another server (another port). */
  function sameBrowser(client: Client, server: ServerProcess): Client {
    const again = new Client(server.url)
    again.jar.set(COOKIE, client.jar.get(COOKIE)!)
    return again
  }

  /** Starts the locker on `file`, resolves once it holds the lock; `release()` lets go and waits for it to end. */
  async function lock(file: string, mode: 'exclusive' | 'write'): Promise<{ release: () => Promise<void> }> {
    const child = spawn(process.execPath, [locker, file, mode], { stdio: ['pipe', 'pipe', 'pipe'] })
    lockers.add(child)
    let output = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
    const deadline = Date.now() + 10_000
    while (!output.includes('locked') && Date.now() < deadline && child.exitCode === null) await sleep(20)
    if (!output.includes('locked')) {
      child.kill('SIGKILL')
      throw new Error(`the locker did not take the lock: ${output}`)
    }
    return {
      release: async () => {
        const exited = once(child, 'exit')
        child.stdin.write('go\n')
        await Promise.race([exited, sleep(5000)])
        if (child.exitCode === null) child.kill('SIGKILL')
        lockers.delete(child)
      },
    }
  }

  describe('at start, the server refuses to start and leaves the file as it was', () => {
    it('[nuxt-server-session] SQLite: a corrupt file (garbage bytes) stops the start with one line naming it, and is not replaced', async () => {
      const cwd = join(tmp, 'corrupt')
      const folder = join(cwd, '.data/session')
      await mkdir(folder, { recursive: true })
      const file = join(folder, 'sessions.sqlite')
      await writeFile(file, createHash('sha512').update('not a database').digest().toString('hex').repeat(64))
      const before = await snapshot(cwd)
      const result = await startExpectingFailure(cwd)
      expectRefusal(result, file, /is not an SQLite database/)
      expect(await snapshot(cwd)).toEqual(before)
      expect(Object.keys(before)).toEqual(['.data/session/sessions.sqlite'])
    }, 60_000)

    it('[nuxt-server-session] SQLite: a database on a read-only file system stops the start with one line, and its sessions are there once it is writable again', async (ctx) => {
      if (skipped(ctx, noMount)) return
      const dir = join(tmp, 'ro-at-start')
      await mountTmpfs(dir, '2m')
      const file = join(dir, 'sessions.sqlite')
      const first = await start(tmp, file)
      const alice = await signIn(first, 'alice')
      await first.stop()
      await remount(dir, 'ro')
      const before = await snapshot(dir)
      expect(Object.keys(before)).toContain('sessions.sqlite')
      const result = await startExpectingFailure(tmp, file)
      expectRefusal(result, file, /read-only/)
      expect(await snapshot(dir)).toEqual(before)
      await remount(dir, 'rw')
      const again = await start(tmp, file)
      expect(await sameBrowser(alice, again).json('/api/me')).toEqual({ user: 'alice', visits: 1, failedWith: null })
      await again.stop()
    }, 60_000)

    it('[nuxt-server-session] SQLite: NUXT_SESSION_SQLITE_PATH in a folder that does not exist stops the start, and nothing is created', async () => {
      const dir = join(tmp, 'missing')
      await mkdir(dir)
      const file = join(dir, 'not-mounted/sessions.sqlite')
      const result = await startExpectingFailure(tmp, file)
      expectRefusal(result, file, /The folder of the session database .* does not exist\. Create it \(a mounted volume\?\), or point NUXT_SESSION_SQLITE_PATH elsewhere/)
      expect(await readdir(dir)).toEqual([])
    }, 60_000)

    it('[nuxt-server-session] SQLite: a database locked by another process longer than storeTimeout stops the start after storeTimeout, saying it is locked; its sessions are there once it is free', async () => {
      const cwd = join(tmp, 'locked-at-start')
      await mkdir(cwd)
      const first = await start(cwd)
      const alice = await signIn(first, 'alice')
      await first.stop()
      const file = join(cwd, '.data/session/sessions.sqlite')
      const held = await lock(file, 'exclusive')
      try {
        const before = await snapshot(cwd)
        const result = await startExpectingFailure(cwd)
        expectRefusal(result, file, new RegExp(`is locked by another process \\(waited ${STORE_TIMEOUT} ms\\)`))
        // The wait is storeTimeout (1.5 s here), not the driver's default of 5 s; the rest is the start itself.
        expect(result.ms).toBeGreaterThanOrEqual(STORE_TIMEOUT)
        expect(result.ms).toBeLessThan(STORE_TIMEOUT + 2500)
        console.log(`[figure] start refused after ${result.ms} ms with the database locked (storeTimeout ${STORE_TIMEOUT} ms)`)
        expect(await snapshot(cwd)).toEqual(before)
      }
      finally {
        await held.release()
      }
      const again = await start(cwd)
      expect(await sameBrowser(alice, again).json('/api/me')).toEqual({ user: 'alice', visits: 1, failedWith: null })
      await again.stop()
    }, 60_000)
  })

  describe('while the server runs, a failing store is a 503 where it is needed, and loses nothing', () => {
    /** Every status a test saw, to show that none was a 500. */
    const statuses: number[] = []
    async function status(client: Client, path: string): Promise<number> {
      const res = await client.fetch(path)
      await res.arrayBuffer()
      statuses.push(res.status)
      return res.status
    }
    afterAll(() => {
      expect(statuses.filter(s => s >= 500 && s !== 503)).toEqual([])
    })

    it('[nuxt-server-session] SQLite: another process holding the write lock longer than storeTimeout: writes 503 after storeTimeout, reads and /api/lazy are served; once it lets go everything works and the 503 wrote nothing', async () => {
      const cwd = join(tmp, 'locked-running')
      await mkdir(cwd)
      const server = await start(cwd)
      try {
        const alice = await signIn(server, 'alice')
        const held = await lock(join(cwd, '.data/session/sessions.sqlite'), 'write')
        let released = false
        try {
          let t = Date.now()
          expect(await status(alice, '/api/visits')).toBe(503)
          const waited = Date.now() - t
          expect(waited).toBeGreaterThanOrEqual(STORE_TIMEOUT - 100)
          expect(waited).toBeLessThan(STORE_TIMEOUT + 1000)
          console.log(`[figure] a write while another process held the lock: 503 after ${waited} ms (storeTimeout ${STORE_TIMEOUT} ms)`)
          // A first visit must write too: 503, and no cookie for a session that was not stored.
          const newcomer = new Client(server.url)
          expect(await status(newcomer, '/api/visits')).toBe(503)
          expect(newcomer.jar.has(COOKIE)).toBe(false)
          // Reads go on in WAL mode while another process writes.
          t = Date.now()
          expect(await alice.json('/api/me')).toEqual({ user: 'alice', visits: 1, failedWith: null })
          expect(Date.now() - t).toBeLessThan(500)
          expect(await status(new Client(server.url), '/api/lazy')).toBe(200)
          // Let go well after the 503: a write still retried then would land now.
          await sleep(500)
          await held.release()
          released = true
          await sleep(300)
        }
        finally {
          if (!released) await held.release()
        }
        expect(await alice.json('/api/me')).toEqual({ user: 'alice', visits: 1, failedWith: null })
        expect(await alice.json('/api/visits')).toEqual({ visits: 2, isNew: false })
        const later = new Client(server.url)
        expect(await later.json('/api/visits')).toEqual({ visits: 1, isNew: true })
        expect(server.output()).toMatch(/Session store failed .*(locked by another process|timed out after 1500 ms)/)
      }
      finally {
        await server.stop()
      }
    }, 60_000)

    it('[nuxt-server-session] SQLite: the file system turns read-only under a running server (ext4 errors=remount-ro): writes 503 at once, existing sessions are read intact, /api/lazy is served; a restart is refused', async (ctx) => {
      if (skipped(ctx, noMount)) return
      const image = join(tmp, 'ext4.img')
      const dir = join(tmp, 'ext4')
      await mkdir(dir)
      await writeFile(image, '')
      await truncate(image, 8 * 1024 * 1024)
      const made = await sh('mkfs.ext4', ['-q', '-F', image])
      if (skipped(ctx, made.code === 0 ? undefined : `mkfs.ext4 is not available (${made.output.trim().split('\n')[0]})`)) return
      const mounted = await sh('mount', ['-o', 'loop,errors=remount-ro', image, dir])
      if (skipped(ctx, mounted.code === 0 ? undefined : `no loop device to mount an ext4 image (${mounted.output.trim().split('\n')[0]})`)) return
      mounts.push(dir)
      const device = basename((await sh('findmnt', ['-n', '-o', 'SOURCE', dir])).output.trim())
      const trigger = `/sys/fs/ext4/${device}/trigger_fs_error`
      if (skipped(ctx, await access(trigger, constants.W_OK).then(() => undefined, () => `${trigger} cannot be written`))) return

      const file = join(dir, 'sessions.sqlite')
      const server = await start(tmp, file)
      try {
        const users = ['ann', 'bob', 'cyd']
        const clients = await Promise.all(users.map(name => signIn(server, name)))
        // The kernel's own path when a disk fails: an ext4 error, and the file system goes read-only.
        await writeFile(trigger, 'nuxt-server-session test\n')
        // ext4 marks itself read-only ("emergency_ro"): access() may still pass, a new file is refused.
        const writable = () => writeFile(join(dir, 'check'), '').then(() => 'writable', (error: NodeJS.ErrnoException) => error.code)
        for (const deadline = Date.now() + 5000; await writable() === 'writable' && Date.now() < deadline;) await sleep(20)
        expect(await writable()).toBe('EROFS')

        const t = Date.now()
        expect(await status(clients[0]!, '/api/visits')).toBe(503)
        // Not a lock: no retries, the answer comes at once.
        expect(Date.now() - t).toBeLessThan(STORE_TIMEOUT)
        expect(await status(new Client(server.url), '/api/visits')).toBe(503)
        expect(await status(new Client(server.url), '/api/lazy')).toBe(200)
        for (const [i, client] of clients.entries()) expect(await client.json('/api/me')).toEqual({ user: users[i], visits: 1, failedWith: null })
        expect(await status(clients[1]!, '/api/logout')).toBe(503)
        expect(await clients[1]!.json('/api/me')).toEqual({ user: 'bob', visits: 1, failedWith: null })
        expect(server.output()).toMatch(new RegExp(`Session store failed .*The session database ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} cannot be written: its file system is read-only`))
      }
      finally {
        await server.stop()
      }
      const result = await startExpectingFailure(tmp, file)
      expectRefusal(result, file, /read-only/)
    }, 60_000)

    it('[nuxt-server-session] SQLite: a full disk: the write that needs room is a 503, every session stored before is read intact, and once there is room again everything works', async (ctx) => {
      if (skipped(ctx, noMount)) return
      const dir = join(tmp, 'full')
      await mountTmpfs(dir, '1m')
      const file = join(dir, 'sessions.sqlite')
      const server = await start(tmp, file)
      try {
        const users = ['u1', 'u2', 'u3', 'u4', 'u5']
        const clients = await Promise.all(users.map(name => signIn(server, name)))
        const filled = await fill(join(dir, 'filler'))
        console.log(`[figure] the 1 MiB tmpfs took ${filled} bytes of filler before it was full`)

        // New sessions of 3 KB each until one finds no room (SQLite may first reuse free space in its files).
        const long = 'x'.repeat(3000)
        const stored: Client[] = []
        let refused = 0
        for (let i = 0; i < 40 && refused < 3; i++) {
          const client = new Client(server.url)
          const code = await status(client, `/api/login?name=${long}${i}`)
          if (code === 503) refused++
          else if (code === 302) stored.push(client)
          else expect.fail(`unexpected ${code} on a full disk`)
        }
        console.log(`[figure] on the full disk: ${stored.length} new sessions still fit, then 503 (${refused} times)`)
        expect(refused).toBeGreaterThan(0)
        // The writes of existing sessions: a 503 or stored, never anything else.
        for (const client of clients) expect([200, 503]).toContain(await status(client, '/api/visits'))
        // Every session stored before is still read, with its data, never a fresh one in its place.
        for (const [i, client] of clients.entries()) expect(await client.json('/api/me')).toMatchObject({ user: users[i] })
        expect(server.output()).toMatch(/Session store failed .*cannot grow: the disk is full/)

        await rm(join(dir, 'filler'))
        for (const [i, client] of clients.entries()) {
          const before = (await client.json('/api/me')).visits as number
          expect(before).toBeGreaterThanOrEqual(1)
          expect(await client.json('/api/visits')).toEqual({ visits: before + 1, isNew: false })
          expect(await client.json('/api/me')).toEqual({ user: users[i], visits: before + 1, failedWith: null })
        }
        for (const client of stored) expect((await client.json('/api/me')).user).toMatch(/^x{3000}\d+$/)
        const later = new Client(server.url)
        expect(await status(later, '/api/login?name=later')).toBe(302)
        expect(await later.json('/api/me')).toMatchObject({ user: 'later' })
      }
      finally {
        await server.stop()
      }
    }, 60_000)
  })

  describe('a plain h3 app, where the first request opens the database', () => {
    it('[nuxt-server-session] SQLite: a database locked when a request first opens it is a 503 within storeTimeout without blocking the event loop, and the next request after the lock opens it', async () => {
      const file = join(tmp, 'h3-lazy.sqlite')
      const created = sessionSqliteDriver({ path: file })
      created.open()
      await created.dispose!()
      const driver = sessionSqliteDriver({ path: file, busyTimeout: STORE_TIMEOUT })
      const storage = createStorage({ driver })
      const options = { secret: SECRET, store: new UnstorageSessionStore(storage), storeTimeout: STORE_TIMEOUT }
      const app = createApp().use(createRouter().get('/visits', defineEventHandler(async (event) => {
        const session = await useSession(event, options)
        session.update(data => ({ ...data, visits: ((data.visits as number | undefined) ?? 0) + 1 }))
        return { visits: session.data.visits }
      })))
      const server = await serve(app)
      const delay = monitorEventLoopDelay({ resolution: 5 })
      try {
        const held = await lock(file, 'exclusive')
        let status: number
        let ms: number
        // A ticker on the event loop: a loop held by a wait inside SQLite would not let it run.
        let ticks = 0
        const ticker = setInterval(() => ticks++, 10)
        try {
          delay.enable()
          const t = Date.now()
          status = (await fetch(`${server.url}/visits`)).status
          ms = Date.now() - t
          delay.disable()
        }
        finally {
          clearInterval(ticker)
          await held.release()
        }
        const worst = delay.max / 1e6
        console.log(`[figure] first request on a locked database: ${status} after ${ms} ms; the event loop's longest delay meanwhile ${worst.toFixed(1)} ms, a 10 ms ticker ran ${ticks} times`)
        expect(status).toBe(503)
        // At the latest after storeTimeout (the storage API's first call may give up sooner).
        expect(ms).toBeLessThan(STORE_TIMEOUT + 1000)
        // No try waits on the event loop (SQLite never waits for the lock there; the retries are on
        // a timer): the ticker kept running through the wait. A held loop would give it 0 or 1 turn.
        expect(ticks).toBeGreaterThan(ms / 10 / 4)
        const client = new Client(server.url)
        expect(await client.json('/visits')).toEqual({ visits: 1 })
        expect(await client.json('/visits')).toEqual({ visits: 2 })
      }
      finally {
        delay.disable()
        await server.close()
        await storage.dispose()
      }
    }, 60_000)
  })

  describe('the runtime\'s SQLite prints nothing of its own', () => {
    it('[nuxt-server-session] SQLite: on the pinned Node 24 no ExperimentalWarning reaches the server\'s output (start, sessions, the checkpointer thread)', async () => {
      expect(process.versions.node.split('.')[0]).toBe('24')
      const cwd = join(tmp, 'warnings')
      await mkdir(cwd)
      const output = await outputOf(process.execPath, cwd)
      expect(output).toContain('Listening on')
      expect(output).not.toMatch(/ExperimentalWarning/)
      expect(output).not.toMatch(/SQLite is an experimental feature/)
    }, 60_000)

    /** Another Node to check the same on (Node 22 prints the warning unless it is dropped): `NSS_TEST_OLD_NODE=/path/to/node`. */
    const oldNode = process.env.NSS_TEST_OLD_NODE
    it.skipIf(!oldNode)('[nuxt-server-session] SQLite: on NSS_TEST_OLD_NODE (Node 22.13+) no ExperimentalWarning reaches the server\'s output either', async () => {
      const cwd = join(tmp, 'warnings-old-node')
      await mkdir(cwd)
      const output = await outputOf(oldNode!, cwd)
      expect(output).toContain('Listening on')
      expect(output).not.toMatch(/ExperimentalWarning/)
      expect(output).not.toMatch(/SQLite is an experimental feature/)
    }, 60_000)

    /** The whole output of a server run by `node` that served a few sessions and ran a while (the checkpointer ticks every 200 ms). */
    async function outputOf(node: string, cwd: string): Promise<string> {
      const server = await startServer(entry, { cwd, env: env(), command: [node] })
      try {
        const client = new Client(server.url)
        for (let i = 1; i <= 3; i++) expect(await client.json('/api/visits')).toEqual({ visits: i, isNew: i === 1 })
        await sleep(700)
        return server.output()
      }
      finally {
        await server.stop()
      }
    }
  })
})

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** Writes `file` until the disk is full; how many bytes it took. */
async function fill(file: string): Promise<number> {
  const handle = await open(file, 'w')
  let written = 0
  try {
    for (const size of [64 * 1024, 4096, 512]) {
      const chunk = Buffer.alloc(size, 1)
      for (;;) {
        try {
          written += (await handle.write(chunk)).bytesWritten
        }
        catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error
          break
        }
      }
    }
  }
  finally {
    await handle.close()
  }
  return written
}
