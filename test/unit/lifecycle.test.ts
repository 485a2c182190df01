/**
 * Lifecycle events (`onLifecycle`; the modules' `session:*` Nitro hooks) over real HTTP on a
 * plain h3 app: one event per change, with a short ref (never the id), the user and the reason;
 * a hook that throws or rejects is logged and changes nothing; a slow hook does not hold the
 * response.
 */
import { createApp, createRouter, defineEventHandler, getRouterParam } from 'h3'
import { createStorage } from 'unstorage'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { UnstorageSessionStore, revokeSession, revokeSessions, signInSession, useSession } from 'nuxt-server-session/h3'
import type { SessionLifecycleEvent, SessionOptions } from 'nuxt-server-session/h3'
import { storeKeyOf } from '../../src/runtime/server/core/crypto'
import { recordingLogger, SECRET, testClock } from '../support/app'
import { Client, serve } from '../support/server'
import type { TestServer } from '../support/server'

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

describe('[nuxt-server-session] lifecycle events (onLifecycle)', () => {
  let server: TestServer
  const clock = testClock()
  const events: SessionLifecycleEvent[] = []
  let behaviour: 'record' | 'throw' | 'reject' | 'slow' = 'record'
  /** A slow hook waits for this: released by the test only once the response has arrived. */
  let release = () => {}
  let gate = Promise.resolve()
  const logger = recordingLogger()
  const options: SessionOptions = {
    store: new UnstorageSessionStore(createStorage(), { now: () => clock.now }),
    secret: SECRET,
    now: () => clock.now,
    ttl: 100,
    maxLifetime: 1000,
    maxSessionsPerUser: 2,
    logger,
    onLifecycle: async (event) => {
      if (behaviour === 'throw') throw new Error('hook failed on purpose')
      if (behaviour === 'reject') return Promise.reject(new Error('hook rejected on purpose'))
      if (behaviour === 'slow') await gate
      events.push(event)
    },
  }
  beforeAll(async () => {
    const router = createRouter()
      .get('/set', defineEventHandler(async (event) => {
        const s = await useSession(event, options)
        await s.update({ visits: 1 })
        return { id: s.id }
      }))
      .get('/sign-in/:user', defineEventHandler(async (event) => {
        await useSession(event, options)
        const s = await signInSession(event, getRouterParam(event, 'user')!)
        return { id: s.id }
      }))
      .get('/regenerate', defineEventHandler(async (event) => {
        const s = await useSession(event, options)
        await s.regenerate()
        return { id: s.id }
      }))
      .get('/sign-out', defineEventHandler(async (event) => {
        const s = await useSession(event, options)
        await s.destroy()
        return { ok: true }
      }))
      .get('/me', defineEventHandler(async (event) => {
        const s = await useSession(event, options)
        return { isNew: s.isNew, id: s.id }
      }))
      .get('/handles', defineEventHandler(async (event) => {
        await useSession(event, options)
        const { listSessions } = await import('nuxt-server-session/h3')
        return (await listSessions(event)).map(s => s.handle)
      }))
      .get('/revoke/:handle', defineEventHandler(async (event) => {
        await useSession(event, options)
        await revokeSession(event, getRouterParam(event, 'handle')!)
        return { ok: true }
      }))
      .get('/revoke-others', defineEventHandler(async (event) => {
        await useSession(event, options)
        await revokeSessions(event, { keepCurrent: true })
        return { ok: true }
      }))
    server = await serve(createApp().use(router))
  })
  afterAll(() => server.close())
  beforeEach(() => {
    events.length = 0
    logger.lines.length = 0
    behaviour = 'record'
  })

  const ref = async (id: string) => (await storeKeyOf(id)).slice(0, 8)
  const settle = () => sleep(20)

  it('created on the first write, regenerated with from on regenerate(), destroyed on sign-out: refs only, never the id', async () => {
    const c = new Client(server.url)
    const { id } = await c.json('/set')
    const { id: newId } = await c.json('/regenerate')
    await c.json('/sign-out')
    await settle()
    expect(events.map(e => [e.type, e.reason])).toEqual([['created', 'first write'], ['regenerated', 'regenerate()'], ['destroyed', 'destroy()']])
    expect(events[0]!.ref).toBe(await ref(id))
    expect(events[1]).toMatchObject({ ref: await ref(newId), from: await ref(id) })
    expect(events[2]!.ref).toBe(await ref(newId))
    expect(events.every(e => /^[\da-f]{8}$/.test(e.ref) && typeof e.at === 'number')).toBe(true)
    expect(JSON.stringify(events)).not.toContain(id)
    expect(JSON.stringify(events)).not.toContain(newId)
  })

  it('a sign-in reports once: regenerated (reason sign-in, the user) from a stored session, created (sign-in) from a fresh one', async () => {
    const stored = new Client(server.url)
    const { id } = await stored.json('/set')
    await stored.json('/sign-in/ada')
    const fresh = new Client(server.url)
    await fresh.json('/sign-in/bob')
    await settle()
    expect(events.map(e => [e.type, e.reason, e.userId])).toEqual([['created', 'first write', undefined], ['regenerated', 'sign-in', 'ada'], ['created', 'sign-in', 'bob']])
    expect(events[1]!.from).toBe(await ref(id))
  })

  it('revoked: a session revoked from another device, the others of "sign out everywhere else", and the oldest over maxSessionsPerUser', async () => {
    const phone = new Client(server.url)
    const { id: phoneId } = await phone.json('/sign-in/cleo')
    const laptop = new Client(server.url)
    await laptop.json('/sign-in/cleo')
    const tablet = new Client(server.url)
    await tablet.json('/sign-in/cleo') // the third: the cap (2) ends the phone's
    await settle()
    const evicted = events.filter(e => e.type === 'revoked')
    expect(evicted).toEqual([expect.objectContaining({ ref: await ref(phoneId), userId: 'cleo', reason: 'maxSessionsPerUser' })])
    expect((await phone.json('/me')).isNew).toBe(true)
    events.length = 0
    await tablet.json('/revoke-others')
    await settle()
    expect(events.map(e => [e.type, e.reason, e.userId])).toEqual([['revoked', 'revoked', 'cleo']])
    const [handle] = await tablet.json('/handles')
    await tablet.json(`/revoke/${handle}`) // its own: the current session, revoked
    await settle()
    expect(events.slice(1).map(e => [e.type, e.reason])).toEqual([['revoked', 'revoked']])
  })

  it('expired: found by a read, with the reason (idle timeout, absolute lifetime)', async () => {
    const idle = new Client(server.url)
    const { id } = await idle.json('/set')
    clock.tick(101)
    expect((await idle.json('/me')).isNew).toBe(true)
    await settle()
    expect(events.at(-1)).toMatchObject({ type: 'expired', ref: await ref(id), reason: 'idle timeout' })
    const old = new Client(server.url)
    const { id: oldId } = await old.json('/set')
    events.length = 0
    for (let i = 0; i < 11; i++) {
      clock.tick(95)
      await old.json('/set') // active: a write every 95 s keeps the idle timeout away
    }
    await settle()
    // After 1045 s, past the 1000 s lifetime: the old session ends, the next write starts a new one.
    expect(events.map(e => [e.type, e.reason])).toEqual([['expired', 'absolute lifetime'], ['created', 'first write']])
    expect(events[0]!.ref).toBe(await ref(oldId))
  })

  it('a hook that throws or rejects is logged and changes nothing; a slow hook does not hold the response', async () => {
    for (const mode of ['throw', 'reject'] as const) {
      behaviour = mode
      const c = new Client(server.url)
      const res = await c.fetch('/set')
      expect(res.status).toBe(200)
      expect((await c.json('/me')).isNew).toBe(false)
      await settle()
      expect(logger.lines.some(line => line.includes('A session:created hook failed') && line.includes('on purpose'))).toBe(true)
      logger.lines.length = 0
    }
    behaviour = 'slow'
    gate = new Promise<void>((resolve) => {
      release = resolve
    })
    // Were the response to wait for the hook, it would wait for ever: the gate opens only after it.
    const c = new Client(server.url)
    expect((await c.fetch('/set')).status).toBe(200)
    expect(events).toEqual([])
    release()
    await settle()
    expect(events.map(e => e.type)).toEqual(['created'])
  })
})
