import { createApp, createRouter, defineEventHandler, getQuery, getRouterParam } from 'h3'
import { createStorage } from 'unstorage'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { UnstorageSessionStore, listSessions, revokeSession, revokeSessions, signInSession, useSession } from 'nuxt-server-session/h3'
import type { SessionOptions } from 'nuxt-server-session/h3'
import { SECRET, testClock } from '../support/app'
import { Client, serve } from '../support/server'
import type { TestServer } from '../support/server'

describe('[nuxt-server-session] your devices (UnstorageSessionStore, memory)', () => {
  let server: TestServer
  const clock = testClock()
  const storage = createStorage()
  const options: SessionOptions = { store: new UnstorageSessionStore(storage, { now: () => clock.now }), secret: SECRET, now: () => clock.now, ttl: 100, devices: { userAgent: true } }
  beforeAll(async () => {
    const router = createRouter()
      .get('/sign-in/:user', defineEventHandler(async (event) => {
        await useSession(event, options)
        const s = await signInSession(event, getRouterParam(event, 'user')!)
        return { id: s.id, userId: s.userId }
      }))
      .get('/list', defineEventHandler(async (event) => {
        await useSession(event, options)
        return listSessions(event)
      }))
      .get('/me', defineEventHandler(async (event) => {
        const s = await useSession(event, options)
        return { isNew: s.isNew }
      }))
      .get('/revoke/:handle', defineEventHandler(async (event) => {
        await useSession(event, options)
        await revokeSession(event, getRouterParam(event, 'handle')!)
        return { ok: true }
      }))
      .get('/revoke-all', defineEventHandler(async (event) => {
        await useSession(event, options)
        await revokeSessions(event, { keepCurrent: getQuery(event).keep === '1' })
        return { ok: true }
      }))
    server = await serve(createApp().use(router))
  })
  afterAll(() => server.close())

  const device = (ua: string) => {
    const c = new Client(server.url)
    return { c, get: (path: string) => c.json(path, { headers: { 'user-agent': ua } }) }
  }

  it('lists a user\'s live sessions with handles (never ids), times, the current one, and the opted-in device label', async () => {
    const phone = device('Phone/1.0')
    const laptop = device('Laptop/2.0')
    const { id, userId } = await phone.get('/sign-in/ada')
    expect(userId).toBe('ada')
    clock.tick(1)
    await laptop.get('/sign-in/ada')
    const list = await laptop.get('/list')
    expect(list).toHaveLength(2)
    expect(list.map((s: any) => s.device)).toEqual(['Phone/1.0', 'Laptop/2.0'])
    expect(list.map((s: any) => s.current)).toEqual([false, true])
    expect(JSON.stringify(list)).not.toContain(id)
    expect(list[0].handle).toMatch(/^[\da-f]{24}$/)
    expect(list[0].lastSeenAt).toBeGreaterThanOrEqual(list[0].createdAt)
  })

  it('revokes one by handle, all but this one, and all; a revoked cookie is anonymous on its next request', async () => {
    const [a, b, c] = [device('A'), device('B'), device('C')]
    for (const d of [a, b, c]) await d.get('/sign-in/bob')
    const list = await a.get('/list')
    const handleOfB = list.find((s: any) => s.device === 'B').handle
    await a.get(`/revoke/${handleOfB}`)
    expect((await b.get('/me')).isNew).toBe(true)
    expect((await a.get('/list')).map((s: any) => s.device)).toEqual(['A', 'C'])
    await a.get('/revoke-all?keep=1')
    expect((await c.get('/me')).isNew).toBe(true)
    expect((await a.get('/list')).map((s: any) => s.device)).toEqual(['A'])
    await a.get('/revoke-all')
    expect((await a.get('/me')).isNew).toBe(true)
  })

  it('a user cannot revoke another user\'s session by its handle', async () => {
    const carol = device('carol')
    const dave = device('dave')
    await carol.get('/sign-in/carol')
    await dave.get('/sign-in/dave')
    const handle = (await carol.get('/list'))[0].handle
    await dave.get(`/revoke/${handle}`)
    expect((await carol.get('/me')).isNew).toBe(false)
  })

  it('entries of expired sessions disappear from the list', async () => {
    const old = device('old')
    const fresh = device('fresh')
    await old.get('/sign-in/erin')
    clock.tick(60)
    await fresh.get('/sign-in/erin')
    clock.tick(60)
    const list = await fresh.get('/list')
    expect(list.map((s: any) => s.device)).toEqual(['fresh'])
  })
})
