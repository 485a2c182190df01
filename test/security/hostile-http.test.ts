/**
 * Hostile HTTP against a built production Nuxt server (test/fixtures/hostile), over raw sockets:
 * every request below is written byte by byte with `node:net`, so nothing (no fetch, no undici)
 * normalises, rejects or re-encodes it before the server sees it.
 *
 * Each hostile input must get 200 with a fresh session (or, for a control, the session it
 * names), or a 4xx/431 from Node's parser, never a 5xx; the one documented 5xx is session data
 * over `maxSize`, which the automatic save answers with the `SessionDataError` (500). After
 * every hostile request a plain request must still get 200, and at the end the server's own
 * output must hold none of the secret, ids, cookie values or data that went over the wire.
 */
import { randomBytes } from 'node:crypto'
import { writeSync } from 'node:fs'
import { connect } from 'node:net'
import { fileURLToPath } from 'node:url'
import { setup, url, useTestContext } from '@nuxt/test-utils/e2e'
import { describe, expect, it } from 'vitest'
import { figure } from '../support/figure'
import { parseSetCookie } from '../support/server'

const SECRET = `hostile-${randomBytes(24).toString('hex')}`
const NAME = '__Host-sid'
const COOKIE_VALUE_RE = /^[\w-]{43}\.[\w-]{43}$/
const MAX_SIZE = 65_536
/** A marker in everything hostile we send, to look for in the server's output. */
const MARK = `zq${randomBytes(6).toString('hex')}`

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

interface RawResponse {
  status: number
  statusText: string
  headers: Record<string, string[]>
  body: string
  /** The socket was reset by the server before a full response arrived. */
  reset: boolean
}

/** What a hostile request must get. */
type Expect
  = | 'fresh' // 200 and a new anonymous session: the input named no session
    | 'same' // 200 and the session the cookie names (a control: the input is odd but valid)
    | 'reject' // 4xx, 431 included, from Node's parser or the app, and no session work
    | 'data-error' // the documented 500 SessionDataError for data over maxSize

function head(method: string, path: string, lines: (string | Buffer)[], body?: Buffer | string): Buffer {
  const bodyBytes = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1')
  const parts: Buffer[] = [Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n`, 'latin1')]
  for (const line of lines) parts.push(Buffer.isBuffer(line) ? line : Buffer.from(line, 'latin1'), Buffer.from('\r\n'))
  if (bodyBytes) parts.push(Buffer.from(`Content-Length: ${bodyBytes.length}\r\n`))
  parts.push(Buffer.from('\r\n'))
  if (bodyBytes) parts.push(bodyBytes)
  return Buffer.concat(parts)
}

function parseResponse(bytes: Buffer, reset: boolean): RawResponse {
  const text = bytes.toString('latin1')
  const end = text.indexOf('\r\n\r\n')
  if (end === -1) return { status: 0, statusText: '', headers: {}, body: '', reset }
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n')
  const match = /^HTTP\/1\.1 (\d{3}) ?(.*)$/.exec(statusLine)
  const headers: Record<string, string[]> = {}
  for (const line of lines) {
    const i = line.indexOf(':')
    const name = line.slice(0, i).trim().toLowerCase()
    ;(headers[name] ??= []).push(line.slice(i + 1).trim())
  }
  let body = bytes.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1'))
  if (headers['transfer-encoding']?.[0]?.toLowerCase() === 'chunked') {
    const chunks: Buffer[] = []
    let at = 0
    for (let guard = 0; guard < 10_000 && at < body.length; guard++) {
      const lineEnd = body.indexOf('\r\n', at)
      if (lineEnd === -1) break
      const size = Number.parseInt(body.subarray(at, lineEnd).toString('latin1'), 16)
      if (!size) break
      chunks.push(body.subarray(lineEnd + 2, lineEnd + 2 + size))
      at = lineEnd + 2 + size + 2
    }
    body = Buffer.concat(chunks)
  }
  return { status: Number(match?.[1] ?? 0), statusText: match?.[2] ?? '', headers, body: body.toString('utf8'), reset }
}

/**
 * Sends `bytes` on a fresh connection and reads to the end (every request says
 * `Connection: close`). `slow` writes the first `slow.bytes` bytes one at a time, `slow.every`
 * ms apart, then the rest at once. Bounded by `timeout` ms.
 */
function send(port: number, bytes: Buffer, { slow, timeout = 10_000 }: { slow?: { bytes: number, every: number }, timeout?: number } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    let reset = false
    let timer: ReturnType<typeof setInterval> | undefined
    const deadline = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no complete response within ${timeout} ms (${chunks.length} chunks so far)`))
    }, timeout)
    socket.on('data', chunk => chunks.push(chunk))
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // The server may close while a request it refused is still being written.
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') reset = true
      else reject(error)
    })
    socket.on('close', () => {
      clearTimeout(deadline)
      clearInterval(timer)
      resolve(parseResponse(Buffer.concat(chunks), reset))
    })
    socket.on('connect', () => {
      if (!slow) return void socket.write(bytes)
      let at = 0
      timer = setInterval(() => {
        if (socket.destroyed) return clearInterval(timer)
        if (at < slow.bytes) {
          socket.write(bytes.subarray(at, at + 1))
          at++
          return
        }
        clearInterval(timer)
        socket.write(bytes.subarray(at))
      }, slow.every)
    })
  })
}

describe('[nuxt-server-session] hostile HTTP over raw sockets (production build)', async () => {
  await setup({
    rootDir: fileURLToPath(new URL('../fixtures/hostile', import.meta.url)),
    env: { NUXT_SESSION_SECRET: SECRET },
  })
  const port = () => Number(new URL(url('/')).port)

  /** Every cookie value and session id that went over the wire, and data we stored. */
  const secrets = new Set<string>()
  const statuses: Record<string, number> = {}
  const results: { label: string, path: string, status: number, ms: number }[] = []
  let inputs = 0

  const sessionCookies = (res: RawResponse) => (res.headers['set-cookie'] ?? []).map(parseSetCookie).filter(c => c.name === NAME)
  const remember = (res: RawResponse) => {
    for (const c of sessionCookies(res)) {
      if (c.value) secrets.add(c.value).add(c.value.slice(0, 43))
    }
  }

  /** A new session with `visits` visits: its cookie value. */
  async function newSession(visits = 1): Promise<string> {
    let value = ''
    for (let i = 0; i < visits; i++) {
      const res = await send(port(), head('GET', '/api/visits', value ? [`Cookie: ${NAME}=${value}`] : []))
      expect(res.status).toBe(200)
      remember(res)
      value ||= sessionCookies(res)[0]!.value
    }
    expect(value).toMatch(COOKIE_VALUE_RE)
    return value
  }

  async function visitsOf(value: string): Promise<{ visits: number, isNew: boolean, note: string | null }> {
    const res = await send(port(), head('GET', '/api/me', [`Cookie: ${NAME}=${value}`]))
    expect(res.status).toBe(200)
    return JSON.parse(res.body)
  }

  /** The server still answers a plain request. */
  async function stillUp(after: string): Promise<void> {
    const res = await send(port(), head('GET', '/api/me', []))
    expect(res.status, `a plain request after "${after}"`).toBe(200)
    expect(JSON.parse(res.body)).toMatchObject({ visits: 0, isNew: true })
  }

  /**
   * Sends one hostile request to `path` and checks the outcome. `known` are the cookie values of
   * live sessions the input carries; `same` names the one that must be kept.
   */
  async function hostile(label: string, path: '/api/visits' | '/api/me', bytes: Buffer, expected: Expect, options: { known?: string[], same?: string, slow?: { bytes: number, every: number } } = {}): Promise<RawResponse> {
    const started = performance.now()
    const res = await send(port(), bytes, { slow: options.slow })
    const ms = Math.round(performance.now() - started)
    inputs++
    const key = res.status ? String(res.status) : 'reset'
    statuses[key] = (statuses[key] ?? 0) + 1
    results.push({ label, path, status: res.status, ms })
    remember(res)
    const where = `${label} → ${path}: ${res.status} ${res.statusText}`
    if (expected === 'reject') {
      expect(res.status, where).toBeGreaterThanOrEqual(400)
      expect(res.status, where).toBeLessThan(500)
      expect(sessionCookies(res).filter(c => c.value), where).toEqual([])
    }
    else if (expected === 'fresh' || expected === 'same') {
      expect(res.status, where).toBe(200)
      const body = JSON.parse(res.body)
      const set = sessionCookies(res)
      const live = set.filter(c => c.value && c.attributes['max-age'] !== '0')
      if (expected === 'same') {
        expect(body.isNew, where).toBe(false)
        // Nothing new: the session the cookie names answered.
        expect(live.map(c => c.value).filter(v => v !== options.same), where).toEqual([])
      }
      else if (path === '/api/visits') {
        expect(body, where).toEqual({ visits: 1, isNew: true })
        expect(live, where).toHaveLength(1)
        expect(live[0]!.value, where).toMatch(COOKIE_VALUE_RE)
        for (const value of options.known ?? []) {
          expect(live[0]!.value.slice(0, 43), where).not.toBe(value.slice(0, 43))
        }
      }
      else {
        expect(body, where).toEqual({ visits: 0, isNew: true, note: null })
        // A read of an anonymous session sets no cookie; at most it clears the one sent.
        expect(live, where).toEqual([])
      }
    }
    await stillUp(label)
    return res
  }

  const both = ['/api/visits', '/api/me'] as const
  const cookie = (value: string) => `Cookie: ${value}`

  it('control: a plain visit gets a signed session cookie and counts', async () => {
    const value = await newSession(2)
    expect(await visitsOf(value)).toMatchObject({ visits: 2, isNew: false })
  })

  it('Cookie headers Node refuses: 64 KiB (431), NUL, bare CR, bare LF, obs-fold (400)', async () => {
    const v = await newSession()
    for (const path of both) {
      const big = await hostile('64 KiB Cookie header', path, head('GET', path, [cookie(`${NAME}=${v}; pad${MARK}=${'p'.repeat(64 * 1024)}`)]), 'reject')
      expect(big.status).toBe(431)
      for (const [label, line] of [
        ['NUL in Cookie', cookie(`${NAME}=${v}\u0000${MARK}`)],
        ['bare CR in Cookie', cookie(`${NAME}=${v}\r${MARK}`)],
        ['bare LF in Cookie', cookie(`${NAME}=${v}\n${MARK}`)],
        ['obs-fold Cookie', cookie(`${NAME}=${v}\r\n ${MARK}=1`)],
      ] as const) {
        const res = await hostile(label, path, head('GET', path, [line]), 'reject')
        expect(res.status, label).toBe(400)
      }
    }
    expect(await visitsOf(v)).toMatchObject({ visits: 1, isNew: false })
  })

  it('many cookies: 300 pairs, 2,500 empty pairs, with and without the session cookie', async () => {
    const v = await newSession()
    const pairs = Array.from({ length: 300 }, (_, i) => `c${i}${MARK}=v${i}`)
    for (const path of both) {
      await hostile('300 cookies', path, head('GET', path, [cookie(pairs.join('; '))]), 'fresh')
      await hostile('2,500 empty pairs', path, head('GET', path, [cookie(Array.from({ length: 2500 }, () => 'x=').join(';'))]), 'fresh')
      const withSession = [...pairs.slice(0, 150), `${NAME}=${v}`, ...pairs.slice(150)].join('; ')
      await hostile('300 cookies + a valid session cookie (control)', path, head('GET', path, [cookie(withSession)]), 'same', { same: v })
    }
    expect((await visitsOf(v)).visits).toBe(2)
  })

  it('Cookie headers of separators just under Node\'s 16 KiB limit: ";", "; " and "a;" runs, with and without the session cookie', async () => {
    const v = await newSession()
    // The request head must stay within Node's 16 KiB (--max-http-header-size), or it is a 431.
    const bytes = 16 * 1024 - 256
    const runs = [['";"', ';'], ['"; "', '; '], ['"a;"', 'a;']] as const
    for (const path of both) {
      for (const [label, unit] of runs) {
        const run = unit.repeat(Math.floor(bytes / unit.length))
        await hostile(`${bytes} B of ${label}`, path, head('GET', path, [cookie(run)]), 'fresh', { known: [v] })
        // The cookie after the run is still found, and one before it too.
        await hostile(`${bytes} B of ${label}, then the session cookie (control)`, path, head('GET', path, [cookie(`${run.slice(NAME.length + v.length + 2)}${NAME}=${v}`)]), 'same', { same: v })
        await hostile(`the session cookie, then ${bytes} B of ${label} (control)`, path, head('GET', path, [cookie(`${NAME}=${v};${run.slice(NAME.length + v.length + 2)}`)]), 'same', { same: v })
      }
    }
    // One visit to make it, and the six controls on /api/visits.
    expect((await visitsOf(v)).visits).toBe(7)
  })

  it('duplicated session cookies, in both orders, and in two Cookie headers: a fresh session', async () => {
    const a = await newSession(3)
    const b = await newSession(5)
    const garbage = `${MARK}garbage`
    const cases: [string, string[]][] = [
      ['duplicate: valid, garbage', [cookie(`${NAME}=${a}; ${NAME}=${garbage}`)]],
      ['duplicate: garbage, valid', [cookie(`${NAME}=${garbage}; ${NAME}=${a}`)]],
      ['duplicate: valid A, valid B', [cookie(`${NAME}=${a}; ${NAME}=${b}`)]],
      ['duplicate: valid B, valid A', [cookie(`${NAME}=${b}; ${NAME}=${a}`)]],
      ['duplicate: the same value twice', [cookie(`${NAME}=${a};${NAME}=${a}`)]],
      ['duplicate: two Cookie headers', [cookie(`${NAME}=${a}`), cookie(`${NAME}=${b}`)]],
    ]
    for (const path of both) {
      for (const [label, lines] of cases) await hostile(label, path, head('GET', path, lines), 'fresh', { known: [a, b] })
    }
    // Refused, not destroyed: each cookie alone still names its session, unchanged.
    expect(await visitsOf(a)).toMatchObject({ visits: 3, isNew: false })
    expect(await visitsOf(b)).toMatchObject({ visits: 5, isNew: false })
  })

  it('mangled cookie values: invalid UTF-8, percent- and double-encoded, quoted, tampered, id only, empty', async () => {
    const v = await newSession(2)
    const bad = Buffer.from([0xFF, 0xFE, 0xC3, 0x28, 0xE2, 0x82, 0x80])
    const percent = [...v].map(c => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`).join('')
    const flip = v.slice(0, 10) + (v[10] === 'A' ? 'B' : 'A') + v.slice(11)
    const cases: [string, (string | Buffer)[], Expect][] = [
      ['invalid UTF-8 in the value', [Buffer.concat([Buffer.from(`Cookie: ${NAME}=`), bad, Buffer.from(v)])], 'fresh'],
      ['invalid UTF-8 replacing the dot', [Buffer.concat([Buffer.from(`Cookie: ${NAME}=${v.slice(0, 43)}`), bad, Buffer.from(v.slice(44))])], 'fresh'],
      ['invalid UTF-8 in another cookie (control)', [Buffer.concat([Buffer.from(`Cookie: other${MARK}=`), bad, Buffer.from(`; ${NAME}=${v}`)])], 'same'],
      ['percent-encoded dot', [cookie(`${NAME}=${v.replace('.', '%2E')}`)], 'fresh'],
      ['percent-encoded value', [cookie(`${NAME}=${percent}`)], 'fresh'],
      ['double-encoded dot', [cookie(`${NAME}=${v.replace('.', '%252E')}`)], 'fresh'],
      ['double-encoded value', [cookie(`${NAME}=${percent.replaceAll('%', '%25')}`)], 'fresh'],
      ['percent-encoded name', [cookie(`%5F%5FHost-sid=${v}`)], 'fresh'],
      ['quoted value', [cookie(`${NAME}="${v}"`)], 'fresh'],
      ['one character changed', [cookie(`${NAME}=${flip}`)], 'fresh'],
      ['id without signature', [cookie(`${NAME}=${v.slice(0, 43)}`)], 'fresh'],
      ['signature without id', [cookie(`${NAME}=${v.slice(43)}`)], 'fresh'],
      ['value with a suffix', [cookie(`${NAME}=${v}${MARK}`)], 'fresh'],
      ['empty value', [cookie(`${NAME}=`)], 'fresh'],
      ['8 KiB value', [cookie(`${NAME}=${MARK}${'A'.repeat(8192)}`)], 'fresh'],
      ['name without the __Host- prefix', [cookie(`sid=${v}`)], 'fresh'],
    ]
    for (const path of both) {
      for (const [label, lines, expected] of cases) await hostile(label, path, head('GET', path, lines), expected, { known: [v], same: v })
    }
    expect((await visitsOf(v)).visits).toBe(3)
  })

  it('a session id anywhere but the cookie is ignored: query string, x-sid, x-session-id, authorization, form body', async () => {
    const v = await newSession(4)
    const id = v.slice(0, 43)
    const cases: [string, string, string[], string?][] = [
      ['query string', `?${NAME}=${encodeURIComponent(v)}&sid=${encodeURIComponent(v)}&session=${id}`, []],
      ['x-sid header', '', [`x-sid: ${v}`]],
      ['x-session-id header', '', [`x-session-id: ${v}`]],
      ['authorization header', '', [`authorization: Bearer ${v}`]],
      ['session id in Cookie2', '', [`Cookie2: ${NAME}=${v}`]],
      ['form body', '', ['Content-Type: application/x-www-form-urlencoded'], `${NAME}=${encodeURIComponent(v)}&sid=${encodeURIComponent(v)}&id=${id}`],
      ['JSON body', '', ['Content-Type: application/json'], JSON.stringify({ [NAME]: v, sid: v, id })],
    ]
    for (const path of both) {
      for (const [label, query, lines, body] of cases) {
        await hostile(label, path, head(body === undefined ? 'GET' : 'POST', path + query, lines, body), 'fresh', { known: [v] })
      }
    }
    expect((await visitsOf(v)).visits).toBe(4)
  })

  it(`session data over maxSize (${MAX_SIZE} bytes): the documented 500 SessionDataError, nothing stored`, async () => {
    const v = await newSession(2)
    const over = `${MARK}${'d'.repeat(MAX_SIZE)}`
    for (const [label, lines] of [['note over maxSize, new session', []], ['note over maxSize, existing session', [cookie(`${NAME}=${v}`)]]] as const) {
      const started = performance.now()
      const res = await send(port(), head('POST', '/api/note', [...lines, 'Content-Type: text/plain'], over))
      inputs++
      statuses[res.status] = (statuses[res.status] ?? 0) + 1
      results.push({ label, path: '/api/note', status: res.status, ms: Math.round(performance.now() - started) })
      const message = `Session data is larger than the ${MAX_SIZE} bytes allowed (maxSize)`
      expect(res.status, label).toBe(500)
      expect(res.statusText).toBe(message)
      expect(JSON.parse(res.body)).toEqual({ statusCode: 500, statusMessage: message, message })
      expect(res.headers['cache-control']).toEqual(['private, no-store'])
      // Nothing was stored, so no cookie names it.
      expect(sessionCookies(res).filter(c => c.value)).toEqual([])
      await stillUp(label)
    }
    // The existing session is untouched; just under the limit is stored.
    expect(await visitsOf(v)).toEqual({ visits: 2, isNew: false, note: null })
    const under = `${MARK}${'u'.repeat(MAX_SIZE - 200)}`
    const ok = await send(port(), head('POST', '/api/note', [cookie(`${NAME}=${v}`), 'Content-Type: text/plain'], under))
    expect(ok.status).toBe(200)
    expect((await visitsOf(v)).note).toBe(under)
  })

  it('a slow client (one header byte every 50 ms for 2 s) is served, and so is everyone meanwhile', async () => {
    const v = await newSession()
    await Promise.all(both.map(async (path) => {
      const bytes = head('GET', path, [cookie(`${NAME}=${v}`)])
      const slow = hostile('slow headers (2 s)', path, bytes, 'same', { same: v, slow: { bytes: 40, every: 50 } })
      // While the slow clients trickle in, the server answers others at once.
      await sleep(300)
      const started = performance.now()
      await stillUp('a slow client still sending')
      expect(performance.now() - started).toBeLessThan(1500)
      const res = await slow
      expect(results.find(r => r.label === 'slow headers (2 s)' && r.path === path)!.ms).toBeGreaterThanOrEqual(1900)
      return res
    }))
    expect((await visitsOf(v)).visits).toBe(2)
  })

  it('the server\'s output holds no secret, session id, cookie value or session data from this suite', async () => {
    // Let the last lines of output arrive.
    await sleep(200)
    const logs = useTestContext().serverLogs.join('\n')
    expect(secrets.size).toBeGreaterThan(20)
    expect(logs).not.toContain(SECRET)
    expect(logs).not.toContain(MARK)
    for (const value of secrets) expect(logs, 'a session id or cookie value is in the server output').not.toContain(value)
    // The one expected line: the refused save, by code only.
    expect(logs).toMatch(/Session not saved \(ERR_SESSION_DATA_INVALID\)/)
    const byLabel = new Map<string, string[]>()
    for (const r of results) byLabel.set(r.label, [...byLabel.get(r.label) ?? [], `${r.path} ${r.status} (${r.ms} ms)`])
    writeSync(1, [...byLabel].map(([label, outcomes]) => `  ${label}: ${outcomes.join(', ')}\n`).join(''))
    figure(`hostile HTTP: ${inputs} inputs, statuses ${JSON.stringify(statuses)}`)
    expect(Object.keys(statuses).filter(s => s === 'reset' || (Number(s) >= 500 && s !== '500'))).toEqual([])
    expect(statuses['500']).toBe(2)
  })
})
