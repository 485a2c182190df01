import type { IncomingMessage } from 'node:http'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { buildNuxtApp } from '../support/nuxt-build'
import type { NuxtBuild } from '../support/nuxt-build'
import { startServer, stopAll } from '../support/process'
import type { ServerProcess } from '../support/process'
import { Client } from '../support/server'
import { figure } from '../support/figure'
import { redisAddress } from '../support/services'
import { tcpProxy } from '../support/tcp-proxy'

/**
 * `sessionWebSocket(hooks)` in a production build of test/fixtures/websocket (Nuxt 4, Nitro 2,
 * crossws 0.3), with a real WebSocket client (`ws`): the upgrade is refused without a signed-in
 * user; a session that ends closes its sockets with 4001 at once on the instance that ended it,
 * at its deadline (expiry, with nothing sent), and on another instance (one Redis) at the
 * socket's next message or within `recheckInterval`; a store outage answers 503 / closes 1013. The basics again on Nuxt 5
 * nightly (Nitro 3, crossws 0.4), test/fixtures/websocket/nuxt5.
 */

const SECRET = 'websocket-e2e-secret-0123456789-0123456789'
const FIXTURE = fileURLToPath(new URL('../fixtures/websocket', import.meta.url))
/** The same app for Nuxt 5 nightly: a fixture of its own (its `nuxt` is nuxt-nightly). */
const FIXTURE_NUXT5 = fileURLToPath(new URL('../fixtures/websocket/nuxt5', import.meta.url))
const COOKIE = '__Host-sid'
const ENDED = { code: 4001, reason: 'Session ended' }
/** How long a close (or an answer) may take to arrive. */
const WAIT = 2000

// `ws` has no types in this repo: what the tests use of it.
interface WsClient {
  send: (data: string) => void
  close: (code?: number, reason?: string) => void
  terminate: () => void
  on: ((event: 'open', listener: () => void) => unknown)
    & ((event: 'message', listener: (data: Buffer) => void) => unknown)
    & ((event: 'close', listener: (code: number, reason: Buffer) => void) => unknown)
    & ((event: 'error', listener: (error: Error) => void) => unknown)
    & ((event: 'unexpected-response', listener: (request: unknown, response: IncomingMessage) => void) => unknown)
}
const { WebSocket } = createRequire(import.meta.url)('ws') as {
  WebSocket: new (url: string, options: { headers: Record<string, string>, handshakeTimeout: number }) => WsClient
}

/** An open socket: what it received, and how it closed. */
class Socket {
  readonly messages: string[] = []
  closed: { code: number, reason: string } | undefined
  private readonly waiters = new Set<() => void>()

  constructor(readonly ws: WsClient) {
    ws.on('message', (data) => {
      this.messages.push(String(data))
      this.wake()
    })
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: String(reason) }
      this.wake()
    })
  }

  private wake(): void {
    for (const waiter of this.waiters) waiter()
  }

  /** Resolves once `check()` holds or after `ms`, to whether it held. */
  async until(check: () => boolean, ms = WAIT): Promise<boolean> {
    if (check()) return true
    let waiter!: () => void
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      return await new Promise<boolean>((resolve) => {
        waiter = () => check() && resolve(true)
        this.waiters.add(waiter)
        timer = setTimeout(() => resolve(check()), ms)
      })
    }
    finally {
      this.waiters.delete(waiter)
      clearTimeout(timer)
    }
  }

  /** Sends `text` and returns the answer, or `undefined` when the socket closed (or nothing came) instead. */
  async ask(text: string): Promise<string | undefined> {
    const before = this.messages.length
    this.ws.send(text)
    await this.until(() => this.messages.length > before || this.closed !== undefined)
    return this.messages[before]
  }
}

const sockets = new Set<Socket>()

/** Dials `path` (/_ws) with `cookie`: the open socket, or the refused upgrade's status and body. */
function dial(base: string, cookie?: string, path = '/_ws', headers: Record<string, string> = {}): Promise<{ socket: Socket } | { status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the upgrade was neither accepted nor refused in time')), 5000)
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}${path}`, { headers: { ...headers, ...(cookie ? { cookie } : {}) }, handshakeTimeout: 5000 })
    const socket = new Socket(ws)
    ws.on('open', () => {
      sockets.add(socket)
      clearTimeout(timer)
      resolve({ socket })
    })
    ws.on('unexpected-response', (_request, response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (body += chunk))
      response.on('end', () => {
        clearTimeout(timer)
        resolve({ status: response.statusCode ?? 0, body })
      })
      response.on('error', () => {
        clearTimeout(timer)
        resolve({ status: response.statusCode ?? 0, body })
      })
    })
    ws.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
  })
}

const cookieOf = (jar: Map<string, string>) => [...jar].map(([name, value]) => `${name}=${value}`).join('; ')

/** A socket opened with `jar`'s cookie, greeted as `user`. */
async function open(base: string, jar: Map<string, string>, user: string, path?: string): Promise<Socket> {
  const dialed = await dial(base, cookieOf(jar), path)
  if (!('socket' in dialed)) throw new Error(`the upgrade was refused: ${dialed.status} ${dialed.body}`)
  const { socket } = dialed
  expect(await socket.until(() => socket.messages.length > 0)).toBe(true)
  expect(socket.messages).toEqual([`hello ${user}`])
  return socket
}

/** A socket opened with `jar`'s cookie that sends `text` the moment it opens: greeted as `user`, then answered. */
async function openAndSend(base: string, jar: Map<string, string>, user: string, text: string): Promise<Socket> {
  const dialed = await dial(base, cookieOf(jar))
  if (!('socket' in dialed)) throw new Error(`the upgrade was refused: ${dialed.status} ${dialed.body}`)
  const { socket } = dialed
  socket.ws.send(text)
  expect(await socket.until(() => socket.messages.length >= 2)).toBe(true)
  expect(socket.messages).toEqual([`hello ${user}`, `${user}: ${text}`])
  return socket
}

/** The upgrade with `cookie` is refused with a 401, and no socket opens. */
async function expectRefused(base: string, cookie?: string): Promise<void> {
  const dialed = await dial(base, cookie)
  expect(dialed).toEqual({ status: 401, body: 'Sign-in required' })
}

/** The socket is open and answers as `user`. */
async function expectLive(socket: Socket, user: string): Promise<void> {
  expect(socket.closed).toBeUndefined()
  const text = `ping ${Math.random().toString(36).slice(2, 8)}`
  expect(await socket.ask(text)).toBe(`${user}: ${text}`)
  expect(socket.closed).toBeUndefined()
}

/** The socket closes with 4001 within WAIT without being sent anything, and got no message after `received`. */
async function expectClosedAtOnce(socket: Socket, received: number): Promise<void> {
  expect(await socket.until(() => socket.closed !== undefined)).toBe(true)
  expect(socket.closed).toEqual(ENDED)
  expect(socket.messages).toHaveLength(received)
}

/** The socket's next message is answered with a close 4001, not an echo (or it closed already). */
async function expectClosedByNextMessage(socket: Socket): Promise<void> {
  const before = socket.messages.length
  if (!socket.closed) expect(await socket.ask('still there?')).toBeUndefined()
  expect(await socket.until(() => socket.closed !== undefined)).toBe(true)
  expect(socket.closed).toEqual(ENDED)
  expect(socket.messages).toHaveLength(before)
}

/** A device: a cookie jar, sent to whichever instance. */
function device() {
  const jar = new Map<string, string>()
  const on = (server: ServerProcess) => Object.assign(new Client(server.url), { jar })
  return {
    jar,
    on,
    signIn: async (server: ServerProcess, user: string) => {
      expect(await on(server).json(`/api/sign-in?name=${encodeURIComponent(user)}`)).toEqual({ userId: user })
      expect(jar.has(COOKIE)).toBe(true)
    },
    /** This device's handle in its user's list of devices. */
    handle: async (server: ServerProcess): Promise<string> => {
      const list = await on(server).json<{ handle: string, current: boolean }[]>('/api/devices/list')
      const handle = list.find(s => s.current)?.handle
      expect(handle).toMatch(/^[\da-f]+$/)
      return handle!
    },
  }
}

/** A user name of its own for each test: tests share the servers, never a user. */
let users = 0
const someone = (name: string) => `${name}-${++users}`

let tmp: string
let build: NuxtBuild | undefined
let build5: NuxtBuild | undefined

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'nss-websocket-'))
  build = await buildNuxtApp(FIXTURE, 4, { outputDir: join(tmp, 'output') })
}, 240_000)

afterEach(() => {
  for (const socket of sockets) socket.ws.terminate()
  sockets.clear()
})

afterAll(async () => {
  await stopAll()
  await build?.remove()
  await build5?.remove()
  if (tmp) await rm(tmp, { recursive: true, force: true })
})

/** A server of the build, with a working directory of its own (its SQLite store under `.data`). */
async function serve(name: string, env: Record<string, string> = {}, from = build): Promise<ServerProcess> {
  const cwd = join(tmp, name)
  await mkdir(cwd, { recursive: true })
  return startServer(from!.entry, { cwd, env: { NUXT_SESSION_SECRET: SECRET, ...env } })
}

describe('[websocket] sessionWebSocket on one instance (Nuxt 4 production build)', () => {
  let server: ServerProcess
  let capped: ServerProcess
  let shortLived: ServerProcess

  beforeAll(async () => {
    ;[server, capped, shortLived] = await Promise.all([
      serve('one'),
      serve('capped', { NUXT_SESSION_MAX_SESSIONS_PER_USER: '2' }),
      serve('short-lived', { NUXT_SESSION_TTL: '2' }),
    ])
  })

  it('refuses the upgrade with 401 without a cookie, with an anonymous session\'s cookie, and with a tampered or forged cookie', async () => {
    await expectRefused(server.url)

    // A session that exists in the store, but is signed in for nobody.
    const guest = device()
    expect(await guest.on(server).json('/api/visits')).toEqual({ ok: true })
    expect(await guest.on(server).json('/api/me')).toEqual({ userId: null, isNew: false })
    await expectRefused(server.url, cookieOf(guest.jar))

    // A signed-in session's cookie, altered: a changed signature, a changed id, no signature, twice.
    const ada = device()
    const user = someone('ada')
    await ada.signIn(server, user)
    const value = ada.jar.get(COOKIE)!
    const dot = value.lastIndexOf('.')
    expect(dot).toBeGreaterThan(0)
    const flip = (c: string) => (c === 'A' ? 'B' : 'A')
    for (const cookie of [
      `${COOKIE}=${value.slice(0, -1)}${flip(value.at(-1)!)}`,
      `${COOKIE}=${flip(value[0]!)}${value.slice(1)}`,
      `${COOKIE}=${value.slice(0, dot)}`,
      // Sent twice: refused as ambiguous.
      `${COOKIE}=${value}; ${COOKIE}=${value}`,
    ]) {
      await expectRefused(server.url, cookie)
    }
    // The cookie itself still opens a socket.
    const socket = await open(server.url, ada.jar, user)
    await expectLive(socket, user)
  })

  it('refuses a browser\'s upgrade from another site (its Origin) with 403, even with a signed-in cookie; this site\'s Origin opens', async () => {
    const ada = device()
    const user = someone('ada')
    await ada.signIn(server, user)
    for (const origin of ['https://evil.example', 'null', `http://127.0.0.1:${new URL(server.url).port === '1' ? '2' : '1'}`]) {
      expect(await dial(server.url, cookieOf(ada.jar), '/_ws', { origin }), origin).toEqual({ status: 403, body: 'Cross-site WebSocket refused' })
    }
    const same = await dial(server.url, cookieOf(ada.jar), '/_ws', { origin: new URL(server.url).origin })
    expect('socket' in same).toBe(true)
  })

  it('hands the session to open and, read again, to each message (one sent the moment the socket opens included)', async () => {
    const ada = device()
    const user = someone('ada')
    await ada.signIn(server, user)
    const socket = await openAndSend(server.url, ada.jar, user, 'hi')
    expect(await socket.ask('visits')).toBe(`${user} visits 0`)
    // Changed over HTTP while the socket is open: the next message sees it.
    await ada.on(server).json('/api/visits')
    await ada.on(server).json('/api/visits')
    expect(await socket.ask('visits')).toBe(`${user} visits 2`)
    expect(socket.messages).toEqual([`hello ${user}`, `${user}: hi`, `${user} visits 0`, `${user} visits 2`])
    expect(socket.closed).toBeUndefined()
  })

  it('destroyed (/api/logout with the same cookie): the session\'s sockets close at once; other sessions\' stay open', async () => {
    const [ada, bob] = [device(), device()]
    const [user, other] = [someone('ada'), someone('bob')]
    await ada.signIn(server, user)
    await bob.signIn(server, other)
    const cookie = cookieOf(ada.jar)
    const [first, second, bobs] = [await open(server.url, ada.jar, user), await open(server.url, ada.jar, user), await open(server.url, bob.jar, other)]
    // One of the session's sockets, closed by the client before: the others are still tracked.
    const gone = await open(server.url, ada.jar, user)
    gone.ws.close(1000, 'bye')
    expect(await gone.until(() => gone.closed !== undefined)).toBe(true)
    expect(gone.closed).toEqual({ code: 1000, reason: 'bye' })
    expect(await ada.on(server).json('/api/logout')).toEqual({ ok: true })
    await expectClosedAtOnce(first, 1)
    await expectClosedAtOnce(second, 1)
    await expectLive(bobs, other)
    // The old cookie opens nothing any more.
    await expectRefused(server.url, cookie)
  })

  it('revoked from another device of the same user: only that device\'s sockets close at once', async () => {
    const [phone, laptop, bob] = [device(), device(), device()]
    const [user, other] = [someone('ada'), someone('bob')]
    await phone.signIn(server, user)
    await laptop.signIn(server, user)
    await bob.signIn(server, other)
    const phoneSockets = [await open(server.url, phone.jar, user), await open(server.url, phone.jar, user)]
    const laptopSocket = await open(server.url, laptop.jar, user)
    const bobSocket = await open(server.url, bob.jar, other)
    const handle = await phone.handle(server)
    expect(await laptop.on(server).json(`/api/devices/revoke?handle=${handle}`)).toEqual({ ok: true })
    for (const socket of phoneSockets) await expectClosedAtOnce(socket, 1)
    await expectLive(laptopSocket, user)
    await expectLive(bobSocket, other)
    expect(await phone.on(server).json('/api/me')).toEqual({ userId: null, isNew: true })
  })

  it('"sign out everywhere" closes every socket of the user at once, and "everywhere else" all but this device\'s', async () => {
    const [phone, laptop, tablet, bob] = [device(), device(), device(), device()]
    const [user, other] = [someone('ada'), someone('bob')]
    for (const d of [phone, laptop, tablet]) await d.signIn(server, user)
    await bob.signIn(server, other)
    const phoneSocket = await open(server.url, phone.jar, user)
    const laptopSocket = await open(server.url, laptop.jar, user)
    const tabletSocket = await open(server.url, tablet.jar, user)
    const bobSocket = await open(server.url, bob.jar, other)

    expect(await laptop.on(server).json('/api/devices/revoke-others')).toEqual({ ok: true })
    await expectClosedAtOnce(phoneSocket, 1)
    await expectClosedAtOnce(tabletSocket, 1)
    await expectLive(laptopSocket, user)

    expect(await laptop.on(server).json('/api/revoke-all')).toEqual({ ok: true })
    await expectClosedAtOnce(laptopSocket, 2)
    await expectLive(bobSocket, other)
  })

  it('evicted by maxSessionsPerUser (a third sign-in with a cap of 2): the oldest session\'s sockets close at once', async () => {
    const [first, second, third] = [device(), device(), device()]
    const user = someone('ada')
    await first.signIn(capped, user)
    await second.signIn(capped, user)
    const firstSocket = await open(capped.url, first.jar, user)
    const secondSocket = await open(capped.url, second.jar, user)
    await third.signIn(capped, user)
    await expectClosedAtOnce(firstSocket, 1)
    await expectLive(secondSocket, user)
    await expectLive(await open(capped.url, third.jar, user), user)
    expect(await first.on(capped).json('/api/me')).toEqual({ userId: null, isNew: true })
  })

  it('signed in again with the same cookie (elsewhere in that browser), or regenerated: the old id\'s sockets close at once, the new cookie opens one', async () => {
    const ada = device()
    const user = someone('ada')
    await ada.signIn(server, user)
    const before = await open(server.url, ada.jar, user)
    const oldCookie = cookieOf(ada.jar)
    await ada.signIn(server, user)
    expect(cookieOf(ada.jar)).not.toBe(oldCookie)
    await expectClosedAtOnce(before, 1)
    await expectRefused(server.url, oldCookie)

    // Signed in as someone else from the same browser.
    const now = await open(server.url, ada.jar, user)
    const other = someone('bob')
    await ada.signIn(server, other)
    await expectClosedAtOnce(now, 1)

    // A plain regenerate(): the same user under a new id.
    const again = await open(server.url, ada.jar, other)
    const previous = cookieOf(ada.jar)
    expect(await ada.on(server).json('/api/regenerate')).toEqual({ userId: other })
    expect(cookieOf(ada.jar)).not.toBe(previous)
    await expectClosedAtOnce(again, 1)
    await expectLive(await open(server.url, ada.jar, other), other)
  })

  it('expired, with nothing sent: the socket closes at its session\'s deadline; a session kept alive over HTTP keeps its socket to the new deadline', async () => {
    const [ada, bob] = [device(), device()]
    const [user, other] = [someone('ada'), someone('bob')]
    const signedIn = Date.now()
    await ada.signIn(shortLived, user)
    await bob.signIn(shortLived, other)
    const adaSocket = await open(shortLived.url, ada.jar, user)
    const bobSocket = await open(shortLived.url, bob.jar, other)
    // Bob's session is used over HTTP (1 s into its 2 s idle timeout): a new deadline.
    await new Promise(resolve => setTimeout(resolve, 1000))
    const touched = Date.now()
    expect(await bob.on(shortLived).json('/api/visits')).toEqual({ ok: true })
    // Ada's socket, sent nothing and with no request made, closes once her session is past its idle timeout.
    expect(await adaSocket.until(() => adaSocket.closed !== undefined, 2000 + WAIT)).toBe(true)
    expect(Date.now() - signedIn).toBeGreaterThanOrEqual(1900)
    expect(adaSocket.closed).toEqual(ENDED)
    expect(adaSocket.messages).toHaveLength(1)
    expect(await ada.on(shortLived).json('/api/me')).toEqual({ userId: null, isNew: true })
    // Bob's outlived its first deadline and closes at the second, again with nothing sent.
    expect(bobSocket.closed).toBeUndefined()
    expect(await bobSocket.until(() => bobSocket.closed !== undefined, 2000 + WAIT)).toBe(true)
    expect(Date.now() - touched).toBeGreaterThanOrEqual(1900)
    expect(bobSocket.closed).toEqual(ENDED)
    expect(bobSocket.messages).toHaveLength(1)
  })
})

describe('[websocket] two instances (two processes) sharing one Redis', () => {
  const PREFIX = `nss-e2e-websocket-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
  const redis = new Redis(redisAddress().url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  let a: ServerProcess
  let b: ServerProcess

  beforeAll(async () => {
    await redis.connect()
    const env = { NUXT_SESSION_REDIS_URL: redisAddress().url, NUXT_SESSION_REDIS_PREFIX: PREFIX }
    ;[a, b] = await Promise.all([serve('redis-a', env), serve('redis-b', env)])
  })

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    // Only this suite's keys.
    let cursor = '0'
    let pages = 0
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}:*`, 'COUNT', 500)
      if (keys.length) await redis.del(...keys)
      cursor = next
    } while (cursor !== '0' && ++pages < 10_000)
    await redis.quit()
  })

  it('a session signed in on A opens a socket on B, which echoes; destroyed through A, B\'s socket closes at its next message (A\'s at once)', async () => {
    const [ada, bob] = [device(), device()]
    const [user, other] = [someone('ada'), someone('bob')]
    await ada.signIn(a, user)
    await bob.signIn(b, other)
    const onB = await open(b.url, ada.jar, user)
    const onA = await open(a.url, ada.jar, user)
    const bobOnB = await open(b.url, bob.jar, other)
    await expectLive(onB, user)
    expect(await ada.on(a).json('/api/logout')).toEqual({ ok: true })
    await expectClosedAtOnce(onA, 1)
    await expectClosedByNextMessage(onB)
    await expectLive(bobOnB, other)
  })

  it('one device revoked through A: its socket on B closes at its next message; the other device\'s socket on B still echoes', async () => {
    const [phone, laptop] = [device(), device()]
    const user = someone('ada')
    await phone.signIn(a, user)
    await laptop.signIn(b, user)
    const phoneOnB = await open(b.url, phone.jar, user)
    const laptopOnB = await open(b.url, laptop.jar, user)
    const handle = await phone.handle(b)
    expect(await laptop.on(a).json(`/api/devices/revoke?handle=${handle}`)).toEqual({ ok: true })
    await expectClosedByNextMessage(phoneOnB)
    await expectLive(laptopOnB, user)
    await expectRefused(b.url, cookieOf(phone.jar))
  })

  it('"sign out everywhere" through A: every socket of the user on B closes at its next message', async () => {
    const [phone, laptop, bob] = [device(), device(), device()]
    const [user, other] = [someone('ada'), someone('bob')]
    await phone.signIn(a, user)
    await laptop.signIn(a, user)
    await bob.signIn(a, other)
    const sockets = [await open(b.url, phone.jar, user), await open(b.url, laptop.jar, user)]
    const bobOnB = await open(b.url, bob.jar, other)
    expect(await laptop.on(a).json('/api/revoke-all')).toEqual({ ok: true })
    for (const socket of sockets) await expectClosedByNextMessage(socket)
    await expectLive(bobOnB, other)
  })

  it('recheckInterval: 1 (/_ws-recheck): a push-only socket on B of a session revoked through A closes within about a second, with nothing sent; a live one stays open', async () => {
    const [phone, laptop] = [device(), device()]
    const user = someone('ada')
    await phone.signIn(a, user)
    await laptop.signIn(a, user)
    const phoneOnB = await open(b.url, phone.jar, user, '/_ws-recheck')
    const laptopOnB = await open(b.url, laptop.jar, user, '/_ws-recheck')
    expect(await laptop.on(a).json(`/api/devices/revoke?handle=${await phone.handle(a)}`)).toEqual({ ok: true })
    const revoked = Date.now()
    expect(await phoneOnB.until(() => phoneOnB.closed !== undefined, 1000 + WAIT)).toBe(true)
    expect(phoneOnB.closed).toEqual(ENDED)
    expect(phoneOnB.messages).toHaveLength(1)
    figure(`a push-only socket on B of a session revoked through A (recheckInterval: 1) closed ${Date.now() - revoked} ms after the revoke`)
    // The laptop's socket went through the same rechecks and is still open.
    await new Promise(resolve => setTimeout(resolve, 1200))
    await expectLive(laptopOnB, user)
  })

  it('Redis down: an upgrade is answered 503, an open socket\'s message closes it with 1013 (no unhandled rejection); once Redis is back, sockets work again', async () => {
    const proxy = await tcpProxy({ host: redisAddress().host, port: redisAddress().port })
    try {
      const c = await serve('redis-outage', { NUXT_SESSION_REDIS_URL: `redis://127.0.0.1:${proxy.port}`, NUXT_SESSION_REDIS_PREFIX: PREFIX, NUXT_SESSION_STORE_TIMEOUT: '500' })
      const ada = device()
      const user = someone('ada')
      await ada.signIn(c, user)
      const socket = await open(c.url, ada.jar, user)
      proxy.cut()
      expect(await socket.ask('during the outage')).toBeUndefined()
      expect(await socket.until(() => socket.closed !== undefined)).toBe(true)
      expect(socket.closed).toEqual({ code: 1013, reason: 'Session store unavailable' })
      expect(socket.messages).toHaveLength(1)
      expect(await dial(c.url, cookieOf(ada.jar))).toEqual({ status: 503, body: 'Session store unavailable' })
      proxy.restore()
      // ioredis reconnects with a backoff: bounded.
      const deadline = Date.now() + 15_000
      let again = await dial(c.url, cookieOf(ada.jar))
      while (!('socket' in again) && Date.now() < deadline) {
        await new Promise(resolve => setTimeout(resolve, 200))
        again = await dial(c.url, cookieOf(ada.jar))
      }
      expect('socket' in again).toBe(true)
      const back = (again as { socket: Socket }).socket
      expect(await back.until(() => back.messages.length > 0)).toBe(true)
      expect(back.messages).toEqual([`hello ${user}`])
      await expectLive(back, user)
      expect(c.child.exitCode).toBeNull()
      expect(c.output()).not.toMatch(/unhandledRejection|UnhandledPromiseRejection/)
      expect(c.output()).toContain('Session store failed during a WebSocket')
      await c.stop()
    }
    finally {
      await proxy.close()
    }
  })

  it('signed in again through A with the same cookie: the old id\'s socket on B closes at its next message; the new cookie opens one on B', async () => {
    const ada = device()
    const user = someone('ada')
    await ada.signIn(a, user)
    const onB = await open(b.url, ada.jar, user)
    await ada.signIn(a, user)
    await expectClosedByNextMessage(onB)
    await expectLive(await open(b.url, ada.jar, user), user)
  })
})

describe('[websocket] [Nuxt 5 nightly] sessionWebSocket on Nitro 3 (crossws 0.4)', () => {
  let server: ServerProcess

  beforeAll(async () => {
    build5 = await buildNuxtApp(FIXTURE_NUXT5, 5, { outputDir: join(tmp, 'output-nuxt5') })
    expect(build5.version).toMatch(/^5\./)
    server = await serve('nuxt5', {}, build5)
  }, 240_000)

  it('[Nuxt 5 nightly] refuses the upgrade with 401 without a cookie and with an anonymous session\'s cookie', async () => {
    await expectRefused(server.url)
    const guest = device()
    expect(await guest.on(server).json('/api/visits')).toEqual({ ok: true })
    expect(await guest.on(server).json('/api/me')).toEqual({ userId: null, isNew: false })
    await expectRefused(server.url, cookieOf(guest.jar))
  })

  it('[Nuxt 5 nightly] hands the session to open and, read again, to each message (one sent the moment the socket opens included)', async () => {
    const ada = device()
    const user = someone('ada')
    await ada.signIn(server, user)
    const socket = await openAndSend(server.url, ada.jar, user, 'hi')
    await ada.on(server).json('/api/visits')
    expect(await socket.ask('visits')).toBe(`${user} visits 1`)
  })

  it('[Nuxt 5 nightly] destroyed, or one device revoked: that session\'s sockets close at once, the others stay open', async () => {
    const [phone, laptop, bob] = [device(), device(), device()]
    const [user, other] = [someone('ada'), someone('bob')]
    await phone.signIn(server, user)
    await laptop.signIn(server, user)
    await bob.signIn(server, other)
    const phoneSocket = await open(server.url, phone.jar, user)
    const laptopSocket = await open(server.url, laptop.jar, user)
    const bobSocket = await open(server.url, bob.jar, other)
    expect(await laptop.on(server).json(`/api/devices/revoke?handle=${await phone.handle(server)}`)).toEqual({ ok: true })
    await expectClosedAtOnce(phoneSocket, 1)
    await expectLive(laptopSocket, user)
    expect(await laptop.on(server).json('/api/logout')).toEqual({ ok: true })
    await expectClosedAtOnce(laptopSocket, 2)
    await expectLive(bobSocket, other)
  })
})
