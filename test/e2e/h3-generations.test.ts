import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { H3, getRouterParam } from 'h3-v2'
import { createStorage } from 'unstorage'
import { listSessions, revokeSession, sessionAutoSave, signInSession, UnstorageSessionStore, useSession } from 'nuxt-server-session/h3'
import type { ServerSession, SessionOptions } from 'nuxt-server-session/h3'
import { checkAppV1, checkAppV2, serve, serveV2App } from '../support/check-apps'
import { itPassesTheRuntimeChecks } from '../support/runtime-checks'
import { Client } from '../support/server'
import type { TestServer } from '../support/server'

const SECRET = 'h3-generations-secret-0123456789-0123456789'

function options(): SessionOptions {
  // Secure as in production (the checks expect the `__Host-` cookie), memory storage per app.
  return { store: new UnstorageSessionStore(createStorage(), { prefix: 'sess' }), secret: SECRET, cookie: { secure: true } }
}

describe('[nuxt-server-session] plain h3 1 app (h3 1.15.11, createApp, Node http)', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await serve(checkAppV1(options()))
  })
  afterAll(() => server?.close())
  itPassesTheRuntimeChecks(() => server.url)
})

describe('[nuxt-server-session] plain h3 2 app (h3 2.0.8 as h3-v2, new H3(), serve(), app.use(sessionAutoSave()))', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await serveV2App(checkAppV2(options()))
  })
  afterAll(() => server?.close())
  itPassesTheRuntimeChecks(() => server.url)
})

describe('[nuxt-server-session] devices helpers on a plain h3 2 app (h3 2.0.8)', () => {
  let server: TestServer
  beforeAll(async () => {
    const opts: SessionOptions = { ...options(), devices: { userAgent: true, ip: true } }
    const app = new H3()
    app.use(sessionAutoSave())
    app.use(async (event) => {
      await useSession(event, opts)
    })
    app.get('/sign-in/:user', async event => ({ id: (await signInSession(event, getRouterParam(event, 'user')!)).id }))
    app.get('/list', event => listSessions(event))
    app.get('/revoke/:handle', async (event) => {
      await revokeSession(event, getRouterParam(event, 'handle')!)
      return { ok: true }
    })
    // In this repo `h3` is h3 1, so h3-v2's context is not augmented here (test/types/h3-v2 checks that typing).
    app.get('/me', event => ({ userId: (event.context.sessionHandler as ServerSession).userId ?? null }))
    server = await serveV2App(app)
  })
  afterAll(() => server?.close())

  it('signs in on two devices, lists them with their labels (user agent, client address), and revokes the other one', async () => {
    const laptop = new Client(server.url)
    const phone = new Client(server.url)
    await laptop.fetch('/sign-in/ann', { headers: { 'user-agent': 'Laptop/1' } })
    await phone.fetch('/sign-in/ann', { headers: { 'user-agent': 'Phone/2' } })
    const list = await laptop.json('/list') as { handle: string, current: boolean, device?: string }[]
    expect(list).toHaveLength(2)
    expect(list.find(s => s.current)!.device).toMatch(/^Laptop\/1 · (?:::ffff:)?127\.0\.0\.1$/)
    const other = list.find(s => !s.current)!
    expect(other.device).toMatch(/^Phone\/2 · /)
    expect(await phone.json('/me')).toEqual({ userId: 'ann' })
    expect(await laptop.json(`/revoke/${other.handle}`)).toEqual({ ok: true })
    expect(await phone.json('/me')).toEqual({ userId: null })
    expect(await laptop.json('/me')).toEqual({ userId: 'ann' })
    expect(await laptop.json('/list')).toHaveLength(1)
  })
})
