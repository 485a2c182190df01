import { createApp, createError, createRouter, defineEventHandler } from 'h3'
import { createStorage } from 'unstorage'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { UnstorageSessionStore, useSession } from 'nuxt-server-session/h3'
import type { SessionOptions, SessionStore } from 'nuxt-server-session/h3'
import { SECRET } from '../support/app'
import { Client, parseSetCookie, serve } from '../support/server'
import type { TestServer } from '../support/server'

/** A real store with added latency on reads, and writes of new records that fail on demand. */
function slowStore(inner: UnstorageSessionStore) {
  const faults = { failCreate: false }
  const store: SessionStore = {
    ttl: inner.ttl,
    get: async (key) => {
      await new Promise(resolve => setTimeout(resolve, 100))
      return inner.get(key)
    },
    set: async (key, record, write) => {
      if (write.create && faults.failCreate) throw new Error('disk full')
      return inner.set(key, record, write)
    },
    delete: key => inner.delete(key),
  }
  return { store, faults }
}

describe('[nuxt-server-session] races inside one request', () => {
  let server: TestServer
  const storage = createStorage()
  const { store, faults } = slowStore(new UnstorageSessionStore(storage))
  const options: SessionOptions = { store, secret: SECRET, logger: { warn: () => {}, error: () => {} } }
  const optionsSaveAll: SessionOptions = { ...options, saveUninitialized: true }
  beforeAll(async () => {
    const router = createRouter()
      .get('/login', defineEventHandler(async (event) => {
        const s = await useSession(event, options)
        s.update({ user: 'ada' } as never)
        return { id: s.id }
      }))
      .get('/me', defineEventHandler(async event => ({ data: (await useSession(event, options)).data })))
      .get('/early-400', defineEventHandler(async (event) => {
        // The body check fails while the session is still loading.
        await Promise.all([useSession(event, options), Promise.reject(createError({ statusCode: 400 }))])
      }))
      .get('/early-400-save-all', defineEventHandler(async (event) => {
        await Promise.all([useSession(event, optionsSaveAll), Promise.reject(createError({ statusCode: 400 }))])
      }))
      .get('/save-and-destroy', defineEventHandler(async (event) => {
        const s = await useSession(event, options)
        s.update({ n: 1 } as never)
        await Promise.all([s.save(), s.destroy()])
        return { ok: true }
      }))
      .get('/regenerate-fails', defineEventHandler(async (event) => {
        const s = await useSession(event, options)
        const before = s.id
        faults.failCreate = true
        try {
          await s.regenerate()
        }
        catch {
          // The caller carries on with the session it had.
        }
        finally {
          faults.failCreate = false
        }
        s.update({ after: true } as never)
        return { same: s.id === before }
      }))
    server = await serve(createApp().use(router))
  })
  afterAll(() => server.close())

  it('a response that ends while the session is still loading neither clears the cookie nor writes a half-loaded session', async () => {
    const c = new Client(server.url)
    await c.json('/login')
    const cookie = c.jar.get('sid')
    const res = await c.fetch('/early-400')
    expect(res.status).toBe(400)
    expect(res.headers.getSetCookie()).toEqual([])
    expect(c.jar.get('sid')).toBe(cookie)
    expect(await c.json('/me')).toEqual({ data: { user: 'ada' } })
  })

  it('with saveUninitialized, an early response stores its own new session, never one under an empty id', async () => {
    const before = new Set(await storage.getKeys())
    const [a, b] = await Promise.all([new Client(server.url).fetch('/early-400-save-all'), new Client(server.url).fetch('/early-400-save-all')])
    const values = [a, b].map(r => parseSetCookie(r.headers.getSetCookie()[0]!).value)
    expect(values[0]).toMatch(/^[\w-]{43}\.[\w-]{43}$/)
    expect(values[0]).not.toBe(values[1])
    expect((await storage.getKeys()).filter(k => !before.has(k))).toHaveLength(2)
  })

  it('save() and destroy() called together run one after the other: no orphan record, the cookie ends cleared', async () => {
    const before = (await storage.getKeys()).length
    const c = new Client(server.url)
    const res = await c.fetch('/save-and-destroy')
    expect(res.status).toBe(200)
    const cookies = res.headers.getSetCookie().map(parseSetCookie).filter(sc => sc.name === 'sid')
    expect(cookies.at(-1)!.attributes['max-age']).toBe('0')
    expect((await storage.getKeys()).length).toBe(before)
  })

  it('a regenerate() that fails leaves the old id and record in place, and no second session', async () => {
    const c = new Client(server.url)
    await c.json('/login')
    const cookie = c.jar.get('sid')
    const before = (await storage.getKeys()).length
    expect(await c.json('/regenerate-fails')).toEqual({ same: true })
    expect(c.jar.get('sid')).toBe(cookie)
    expect((await storage.getKeys()).length).toBe(before)
    expect(await c.json('/me')).toEqual({ data: { user: 'ada', after: true } })
  })
})
