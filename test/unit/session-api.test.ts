import { createApp, createRouter, defineEventHandler } from 'h3'
import { createStorage } from 'unstorage'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { UnstorageSessionStore, useSession } from 'nuxt-server-session/h3'
import { SECRET, sessionApp } from '../support/app'
import { Client, parseSetCookie, serve } from '../support/server'
import type { TestServer } from '../support/server'

describe('[nuxt-server-session] session API over HTTP', () => {
  let server: TestServer
  let ctx: ReturnType<typeof sessionApp>
  beforeAll(async () => {
    ctx = sessionApp()
    server = await serve(ctx.app)
  })
  afterAll(() => server.close())
  const client = () => new Client(server.url)
  const storedKeys = () => ctx.storage.getKeys('sess')

  it('a request that never asks for the session gets no cookie and costs no store access', async () => {
    const before = (await storedKeys()).length
    const res = await client().fetch('/never')
    expect(res.headers.getSetCookie()).toEqual([])
    expect((await storedKeys()).length).toBe(before)
  })

  it('an anonymous read creates no record and sends no cookie (saveUninitialized: false)', async () => {
    const before = (await storedKeys()).length
    const c = client()
    const body = await c.json('/read')
    expect(body).toMatchObject({ isNew: true, data: {} })
    expect(c.jar.size).toBe(0)
    expect((await storedKeys()).length).toBe(before)
  })

  it('counts visits across requests with the cookie carried by the client', async () => {
    const c = client()
    const first = await c.json('/inc')
    expect(first).toMatchObject({ isNew: true, data: { n: 1 } })
    const second = await c.json('/inc')
    expect(second).toMatchObject({ isNew: false, data: { n: 2 }, id: first.id, createdAt: first.createdAt })
    expect(await c.json('/read')).toMatchObject({ data: { n: 2 } })
  })

  it('an unchanged session sends no Set-Cookie and writes nothing', async () => {
    const c = client()
    await c.json('/inc')
    const key = (await storedKeys())[0]!
    const raw = await ctx.storage.getItemRaw(key)
    const res = await c.fetch('/read')
    expect(res.headers.getSetCookie()).toEqual([])
    expect(await ctx.storage.getItemRaw(key)).toBe(raw)
  })

  it('concurrent useSession calls in one request share one load and one object', async () => {
    expect(await client().json('/twice')).toEqual({ same: true })
  })

  it('explicit save() persists before the handler returns', async () => {
    const c = client()
    expect(await c.json('/save')).toMatchObject({ data: { saved: true } })
    expect(await c.json('/read')).toMatchObject({ isNew: false, data: { saved: true } })
  })

  it('automatic save covers sendRedirect: the redirect carries the cookie and the next request sees the change', async () => {
    const c = client()
    const res = await c.fetch('/redirect')
    expect(res.status).toBe(302)
    expect(res.headers.get('location')).toBe('/read')
    expect(await c.json('/read')).toMatchObject({ data: { via: 'redirect' } })
  })

  it('automatic save covers a thrown 4xx error', async () => {
    const c = client()
    expect((await c.fetch('/fail/400')).status).toBe(400)
    expect(await c.json('/read')).toMatchObject({ data: { via: 'error-400' } })
  })

  it('automatic save skips a 5xx response: nothing is stored and no cookie is sent', async () => {
    const c = client()
    await c.json('/inc')
    const res = await c.fetch('/fail/500')
    expect(res.status).toBe(500)
    expect(res.headers.getSetCookie()).toEqual([])
    expect((await c.json('/read')).data).toEqual({ n: 1 })
  })

  it('automatic save covers an empty 204 response (writeHead before end)', async () => {
    const c = client()
    expect((await c.fetch('/no-content')).status).toBe(204)
    expect(await c.json('/read')).toMatchObject({ data: { via: 'no-content' } })
  })

  it('automatic save covers a streamed response and keeps its body intact', async () => {
    const c = client()
    const res = await c.fetch('/stream')
    expect(await res.text()).toBe('chunk-1 chunk-2')
    expect(await c.json('/read')).toMatchObject({ data: { via: 'stream' } })
  })

  it('destroy() deletes the record and expires the cookie; replaying the old cookie gives an anonymous session', async () => {
    const c = client()
    await c.json('/inc')
    const cookie = [...c.jar][0]!
    const before = (await storedKeys()).length
    const res = await c.fetch('/destroy')
    const cleared = res.headers.getSetCookie().map(parseSetCookie).find(sc => sc.name === cookie[0])!
    expect(cleared.attributes['max-age']).toBe('0')
    expect(cleared.attributes.path).toBe('/')
    expect((await storedKeys()).length).toBe(before - 1)
    const replay = new Client(server.url)
    replay.jar.set(cookie[0], cookie[1])
    expect(await replay.json('/read')).toMatchObject({ isNew: true, data: {} })
  })

  it('destroy() on a request without a session sends no cookie', async () => {
    const res = await client().fetch('/destroy')
    expect(res.headers.getSetCookie()).toEqual([])
  })

  it('regenerate() gives a new id, keeps the data and deletes the old record', async () => {
    const c = client()
    const first = await c.json('/inc')
    const oldCookie = [...c.jar][0]!
    const { before, after } = await c.json('/regenerate')
    expect(before).toBe(first.id)
    expect(after).not.toBe(before)
    expect(await c.json('/read')).toMatchObject({ id: after, data: { n: 1, user: 'alice' } })
    const replay = new Client(server.url)
    replay.jar.set(oldCookie[0], oldCookie[1])
    expect(await replay.json('/read')).toMatchObject({ isNew: true, data: {} })
  })

  it('regenerate() of a session never saved leaves exactly one record', async () => {
    const c = client()
    const before = (await storedKeys()).length
    const { after } = await c.json('/regenerate')
    expect((await storedKeys()).length).toBe(before + 1)
    expect(await c.json('/read')).toMatchObject({ id: after, data: { user: 'alice' } })
  })

  it('reload() drops unsaved changes', async () => {
    const c = client()
    await c.json('/inc')
    expect((await c.json('/reload')).data).toEqual({ n: 1 })
    expect((await c.json('/read')).data).toEqual({ n: 1 })
  })

  it('update(partial) merges shallowly and removes keys set to undefined; set() replaces', async () => {
    const store = new UnstorageSessionStore(createStorage())
    const router = createRouter().get('/', defineEventHandler(async (event) => {
      const s = await useSession<{ a?: number, b?: number, c?: number }>(event, { store, secret: SECRET })
      s.set({ a: 1, b: 2 })
      s.update({ b: undefined, c: 3 })
      const merged = { ...s.data }
      s.update(d => ({ ...d, a: (d.a ?? 0) + 10 }))
      return { merged, final: s.data }
    }))
    const local = await serve(createApp().use(router))
    try {
      expect(await new Client(local.url).json('/')).toEqual({ merged: { a: 1, c: 3 }, final: { a: 11, c: 3 } })
    }
    finally {
      await local.close()
    }
  })

  it('useSession(event) without options after a middleware mounted the session returns it; without any, a clear error', async () => {
    const store = new UnstorageSessionStore(createStorage())
    const app = createApp()
      .use('/mounted', defineEventHandler(async (event) => {
        await useSession(event, { store, secret: SECRET })
      }))
      .use('/mounted', defineEventHandler(async (event) => {
        const s = await useSession(event)
        return { same: s === event.context.sessionHandler }
      }))
      .use('/bare', defineEventHandler(async (event) => {
        try {
          await useSession(event)
          return { error: null }
        }
        catch (error) {
          return { error: (error as Error).message, code: (error as { code?: string }).code }
        }
      }))
    const local = await serve(app)
    try {
      expect(await new Client(local.url).json('/mounted')).toEqual({ same: true })
      const bare = await new Client(local.url).json('/bare')
      expect(bare.code).toBe('ERR_SESSION_CONFIG')
      expect(bare.error).toMatch(/needs its options/)
    }
    finally {
      await local.close()
    }
  })
})
