import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createApp, createError, createRouter, defineEventHandler, getQuery, getRouterParam, sendStream } from 'h3'
import type { H3Event } from 'h3'
import { createStorage } from 'unstorage'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { UnstorageSessionStore, useSession } from 'nuxt-server-session/h3'
import type { SessionOptions, SessionRecord, SessionWrite } from 'nuxt-server-session/h3'
import { SECRET } from '../support/app'
import { figure } from '../support/figure'
import { Client, parseSetCookie, serve } from '../support/server'
import type { TestServer } from '../support/server'

const NAME = 'sid'

/**
 * How a handler answers with `res.writeHead(...)` and `res.end(...)`: each case is run with a
 * session that changed (the response is held for the save), a session that did not (nothing to
 * save), and no session at all (Node's own writeHead, the reference).
 */
const WRITE_HEAD: Record<string, (res: H3Event['node']['res']) => void> = {
  'flat array': res => res.writeHead(200, ['set-cookie', 'a=1', 'set-cookie', 'b=2', 'content-type', 'text/plain']),
  'flat array over headers set earlier': (res) => {
    res.setHeader('set-cookie', 'early=1')
    res.setHeader('x-early', 'old')
    res.setHeader('x-kept', 'yes')
    res.writeHead(200, ['set-cookie', 'a=1', 'set-cookie', 'b=2', 'x-early', 'new', 'X-Repeat', 'r1', 'x-repeat', 'r2', 'content-type', 'text/plain'])
  },
  'status message and flat array': res => res.writeHead(201, 'Made Here', ['set-cookie', 'a=1', 'set-cookie', 'b=2']),
  'status message, no headers': res => res.writeHead(202, 'Taken'),
  'undefined status message, then headers': res => res.writeHead(200, undefined as unknown as string, { 'set-cookie': ['a=1', 'b=2'] }),
  'object': (res) => {
    res.setHeader('x-early', 'old')
    res.setHeader('x-kept', 'yes')
    res.writeHead(200, { 'set-cookie': ['a=1', 'b=2'], 'x-early': 'new', 'x-number': 7, 'content-type': 'text/plain' })
  },
  'array of pairs, no header set before': res => res.writeHead(200, [['set-cookie', 'a=1'], ['set-cookie', 'b=2'], ['content-type', 'text/plain']] as unknown as string[]),
}

/** Calls Node refuses: writeHead throws in the handler, which then answers 500. */
const REFUSED: Record<string, (res: H3Event['node']['res']) => void> = {
  'array of pairs after setHeader': (res) => {
    res.setHeader('x-early', 'old')
    res.writeHead(200, [['set-cookie', 'a=1'], ['set-cookie', 'b=2'], ['x-a', '1']] as unknown as string[])
  },
  'odd flat array': res => res.writeHead(200, ['set-cookie', 'a=1', 'x-a']),
  'status 1000': res => res.writeHead(1000),
  'object with an undefined value': res => res.writeHead(200, { 'x-a': '1', 'x-u': undefined } as unknown as Record<string, string>),
  'status message with a line break': res => res.writeHead(200, 'Bad\r\nX-Injected: 1'),
}

type Mode = 'changed' | 'unchanged' | 'none'

interface Seen {
  status: number
  statusText: string
  /** Every header but our cookie, the date and the session's cache headers; set-cookie apart. */
  headers: [string, string][]
  cookies: string[]
  session: string[]
  body: string
}

async function seen(res: Response): Promise<Seen> {
  const session = res.headers.getSetCookie().filter(c => parseSetCookie(c).name === NAME)
  return {
    status: res.status,
    statusText: res.statusText,
    headers: [...res.headers].filter(([k]) => !['date', 'connection', 'keep-alive', 'set-cookie', 'cache-control', 'vary', 'content-length', 'transfer-encoding'].includes(k)),
    cookies: res.headers.getSetCookie().filter(c => parseSetCookie(c).name !== NAME),
    session,
    body: await res.text(),
  }
}

describe('[nuxt-server-session] automatic save: writeHead while the response is held', () => {
  let server: TestServer
  let options: SessionOptions
  beforeAll(async () => {
    options = { secret: SECRET, name: NAME, store: new UnstorageSessionStore(createStorage()) }
    const router = createRouter()
      .get('/visit', defineEventHandler(async (event) => {
        const s = await useSession(event, options)
        s.update((d: any) => ({ ...d, visits: (d.visits ?? 0) + 1 }))
        return { visits: s.data.visits }
      }))
      .get('/head/:mode/:case', defineEventHandler(async (event) => {
        const mode = getRouterParam(event, 'mode') as Mode
        if (mode !== 'none') {
          const s = await useSession(event, options)
          if (mode === 'changed') s.update((d: any) => ({ ...d, visits: (d.visits ?? 0) + 1 }))
        }
        const name = decodeURIComponent(getRouterParam(event, 'case')!)
        try {
          (WRITE_HEAD[name] ?? REFUSED[name]!)(event.node.res)
        }
        catch (error) {
          // The code of the error writeHead threw, for the test to compare.
          throw createError({ statusCode: 500, statusMessage: 'Refused', data: { code: (error as { code?: string }).code } })
        }
        event.node.res.end('raw body')
      }))
    server = await serve(createApp().use(router))
  })
  afterAll(() => server.close())

  /**
   * One case in one mode. A changed session is a new one, so that its save sends the cookie; an
   * unchanged one was made by an earlier request. `visits` is what the next request sees.
   */
  async function run(mode: Mode, name: string): Promise<{ seen: Seen, visits: number }> {
    const client = new Client(server.url)
    if (mode === 'unchanged') expect(await client.json('/visit')).toEqual({ visits: 1 })
    const res = await seen(await client.fetch(`/head/${mode}/${encodeURIComponent(name)}`))
    const { visits } = await client.json('/visit')
    return { seen: res, visits: visits - 1 }
  }

  it('a flat raw array keeps every set-cookie, and the session cookie of the save is added', async () => {
    const { seen: res, visits } = await run('changed', 'flat array')
    expect(res.status).toBe(200)
    expect(res.cookies).toEqual(['a=1', 'b=2'])
    expect(res.session).toHaveLength(1)
    expect(res.headers).toEqual([['content-type', 'text/plain']])
    expect(res.body).toBe('raw body')
    // Saved before the response left: the next request saw the change.
    expect(visits).toBe(1)
  })

  it('headers set earlier are replaced by the raw array\'s names, others kept, repeats kept: as Node does', async () => {
    const { seen: res } = await run('changed', 'flat array over headers set earlier')
    expect(res.cookies).toEqual(['a=1', 'b=2'])
    expect(res.session).toHaveLength(1)
    expect(Object.fromEntries(res.headers)).toEqual({ 'content-type': 'text/plain', 'x-early': 'new', 'x-kept': 'yes', 'x-repeat': 'r1, r2' })
  })

  for (const name of Object.keys(WRITE_HEAD)) {
    it(`${name}: the same status and headers with a save pending, with nothing to save and without a session`, async () => {
      const reference = await run('none', name)
      const unchanged = await run('unchanged', name)
      const changed = await run('changed', name)
      expect(reference.seen.session).toEqual([])
      expect(unchanged.seen.session).toEqual([])
      expect(unchanged.seen).toEqual(reference.seen)
      expect(unchanged.visits).toBe(1)
      expect(changed.seen).toEqual({ ...reference.seen, session: [expect.stringMatching(/^sid=[\w-]{43}\.[\w-]{43}; /)] })
      expect(changed.visits).toBe(1)
    })
  }

  for (const name of Object.keys(REFUSED)) {
    it(`${name}: refused as Node refuses it, in the handler, with its error code; nothing is saved after the 500`, async () => {
      const codes: Record<string, string> = {}
      for (const mode of ['none', 'unchanged', 'changed'] as const) {
        const { seen: res, visits } = await run(mode, name)
        expect(res.status, mode).toBe(500)
        expect(res.session, mode).toEqual([])
        expect(res.cookies, mode).toEqual([])
        codes[mode] = JSON.parse(res.body).data.code
        expect(visits, mode).toBe(mode === 'unchanged' ? 1 : 0)
      }
      expect(codes.none).toMatch(/^ERR_/)
      expect(codes).toEqual({ none: codes.none, unchanged: codes.none, changed: codes.none })
    })
  }
})

const KiB = 1024
const MiB = 1024 * KiB
const SAVE_DELAY_MS = 300

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** The real store over unstorage memory, whose writes take `SAVE_DELAY_MS` longer. */
class DelayedStore extends UnstorageSessionStore {
  declare sets: number
  /** Called once each write has been stored. */
  declare onSaved: (() => void) | undefined

  constructor() {
    super(createStorage())
    this.sets = 0
    this.onSaved = undefined
  }

  override async set(key: string, record: SessionRecord, write: SessionWrite): Promise<boolean> {
    this.sets++
    await sleep(SAVE_DELAY_MS)
    const stored = await super.set(key, record, write)
    this.onSaved?.()
    return stored
  }
}

/** What one streamed response did on the server. */
interface Run {
  /** Bytes the source had made (or the writer had written) when the save completed. */
  atSave?: number
  produced: number
  sha256?: string
  falses: number
  drains: number
  /** 'drain' events while Node still owed one: a 'drain' that no full buffer called for. */
  spurious: number
}

describe('[nuxt-server-session] automatic save: backpressure while the response is held', () => {
  let server: TestServer
  let store: DelayedStore
  const runs = new Map<string, Run>()
  const TOTAL = 32 * MiB
  const CHUNK = 16 * KiB

  /** `TOTAL` bytes made on demand, each chunk numbered, so that order and content are checked. */
  function source(run: Run): Readable {
    const base = randomBytes(CHUNK)
    const hash = createHash('sha256')
    return new Readable({
      read() {
        if (run.produced >= TOTAL) {
          run.sha256 = hash.digest('hex')
          this.push(null)
          return
        }
        const chunk = Buffer.from(base)
        chunk.writeUInt32BE(run.produced / CHUNK)
        run.produced += chunk.length
        hash.update(chunk)
        this.push(chunk)
      },
    })
  }

  beforeAll(async () => {
    store = new DelayedStore()
    const options: SessionOptions = { secret: SECRET, name: NAME, store }
    /** The session as `mode` says; the run of this request, which the save's completion marks. */
    const begin = async (event: H3Event) => {
      const s = await useSession(event, options)
      if (getRouterParam(event, 'mode') === 'changed') s.update((d: any) => ({ ...d, visits: (d.visits ?? 0) + 1 }))
      const run: Run = { produced: 0, falses: 0, drains: 0, spurious: 0 }
      runs.set(String(getQuery(event).run), run)
      store.onSaved = () => {
        run.atSave ??= run.produced
      }
      return run
    }
    const router = createRouter()
      .get('/visit', defineEventHandler(async (event) => {
        const s = await useSession(event, options)
        s.update((d: any) => ({ ...d, visits: (d.visits ?? 0) + 1 }))
        return { visits: s.data.visits }
      }))
      // stream.pipe(), through h3's sendStream.
      .get('/pipe/:mode', defineEventHandler(async event => sendStream(event, source(await begin(event)))))
      .get('/pipeline/:mode', defineEventHandler(async (event) => {
        await pipeline(source(await begin(event)), event.node.res)
      }))
      // A writer by hand that waits for 'drain' after each write that answered false.
      .get('/writer/:size/:mode', defineEventHandler(async (event) => {
        const run = await begin(event)
        const res = event.node.res
        const size = Number(getRouterParam(event, 'size'))
        res.on('drain', () => {
          run.drains++
          if (res.writableNeedDrain) run.spurious++
        })
        const chunk = randomBytes(size)
        while (run.produced < 8 * MiB) {
          run.produced += size
          if (!res.write(chunk)) {
            run.falses++
            await once(res, 'drain')
          }
        }
        res.end()
      }))
    server = await serve(createApp().use(router))
  })
  afterAll(() => server.close())

  let next = 0
  async function fetchRun(client: Client, path: string): Promise<{ res: Response, body: Buffer, run: Run }> {
    const id = String(++next)
    const res = await client.fetch(`${path}?run=${id}`)
    const body = Buffer.from(await res.arrayBuffer())
    return { res, body, run: runs.get(id)! }
  }

  for (const how of ['pipe', 'pipeline'] as const) {
    it(`${how}: a 32 MiB stream into a route that changed the session waits for the save, then arrives whole`, async () => {
      const client = new Client(server.url)
      const sets = store.sets
      const { res, body, run } = await fetchRun(client, `/${how}/changed`)
      expect(res.status).toBe(200)
      expect(res.headers.getSetCookie().filter(c => parseSetCookie(c).name === NAME)).toHaveLength(1)
      expect(store.sets).toBe(sets + 1)
      // While the save took its 300 ms, the source made a few chunks, not the whole stream.
      figure(`auto-save backpressure, ${how}: ${run.atSave} of ${TOTAL} bytes made when the ${SAVE_DELAY_MS} ms save completed`)
      expect(run.atSave).toBeGreaterThan(0)
      expect(run.atSave).toBeLessThan(256 * KiB)
      expect(body.length).toBe(TOTAL)
      expect(createHash('sha256').update(body).digest('hex')).toBe(run.sha256)
      expect(await client.json('/visit')).toEqual({ visits: 2 })
    })

    it(`${how}: with nothing to save, the stream is not held and arrives whole`, async () => {
      const client = new Client(server.url)
      expect(await client.json('/visit')).toEqual({ visits: 1 })
      const sets = store.sets
      const { res, body, run } = await fetchRun(client, `/${how}/unchanged`)
      expect(res.status).toBe(200)
      expect(res.headers.getSetCookie()).toEqual([])
      expect(store.sets).toBe(sets)
      expect(run.atSave).toBeUndefined()
      expect(body.length).toBe(TOTAL)
      expect(createHash('sha256').update(body).digest('hex')).toBe(run.sha256)
    })
  }

  // 1 KiB: the held write goes out within Node's buffer, so 'drain' is ours to emit. 1 MiB: it
  // fills Node's buffer, so Node emits 'drain' itself once the socket has taken it, and a second
  // one from us would be spurious.
  for (const size of [KiB, MiB]) {
    it(`a writer of ${size / KiB} KiB chunks gets one 'drain' per write that answered false, none spurious`, async () => {
      const client = new Client(server.url)
      const { res, body, run } = await fetchRun(client, `/writer/${size}/changed`)
      expect(res.status).toBe(200)
      expect(body.length).toBe(run.produced)
      expect(run.atSave).toBe(size)
      expect(run.falses).toBeGreaterThan(0)
      expect(run.drains).toBe(run.falses)
      expect(run.spurious).toBe(0)
    })
  }
})
