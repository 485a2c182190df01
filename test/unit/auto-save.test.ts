import { createApp, createError, createRouter, defineEventHandler, getRouterParam } from 'h3'
import type { H3Event } from 'h3'
import { createStorage } from 'unstorage'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { UnstorageSessionStore, useSession } from 'nuxt-server-session/h3'
import type { SessionOptions } from 'nuxt-server-session/h3'
import { SECRET } from '../support/app'
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
