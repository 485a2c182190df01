import { fileURLToPath } from 'node:url'
import { setup, startServer, url, useTestContext } from '@nuxt/test-utils/e2e'
import { describe, expect, it } from 'vitest'
import { Client, parseSetCookie } from '../support/server'

const SECRET = 'e2e-secret-0123456789-0123456789-0123456789'

describe('[nuxt-server-session] Nuxt module, zero config (production build)', async () => {
  await setup({
    rootDir: fileURLToPath(new URL('../fixtures/basic', import.meta.url)),
    env: { NUXT_SESSION_SECRET: SECRET },
  })
  const client = () => new Client(url('/').replace(/\/$/, ''))

  it('a route that never asks for the session sets no cookie', async () => {
    const res = await client().fetch('/api/lazy')
    expect(await res.json()).toEqual({ ok: true })
    expect(res.headers.getSetCookie()).toEqual([])
  })

  it('counts visits across requests with production cookie defaults', async () => {
    const c = client()
    const res = await c.fetch('/api/visits')
    expect(await res.json()).toEqual({ visits: 1, isNew: true })
    const cookie = parseSetCookie(res.headers.getSetCookie()[0]!)
    expect(cookie.name).toBe('__Host-sid')
    expect(cookie.attributes).toMatchObject({ httponly: true, secure: true, samesite: 'Lax', path: '/' })
    expect(res.headers.get('cache-control')).toBe('private, no-store')
    expect(await c.json('/api/visits')).toEqual({ visits: 2, isNew: false })
  })

  it('saves automatically before a redirect: the next request sees the sign-in', async () => {
    const c = client()
    await c.json('/api/visits')
    const before = c.jar.get('__Host-sid')
    const res = await c.fetch('/api/login?name=bob')
    expect(res.status).toBe(302)
    expect(c.jar.get('__Host-sid')).not.toBe(before)
    expect(await c.json('/api/me')).toMatchObject({ user: 'bob', visits: 1 })
  })

  it('saves automatically on a thrown 4xx, not on a 5xx', async () => {
    const c = client()
    await c.json('/api/visits')
    expect((await c.fetch('/api/fail?status=400')).status).toBe(400)
    expect((await c.json('/api/me')).failedWith).toBe(400)
    expect((await c.fetch('/api/fail?status=500')).status).toBe(500)
    expect((await c.json('/api/me')).failedWith).toBe(400)
  })

  it('the session:* Nitro hooks see created, regenerated (from the old ref) and destroyed, by ref, never the id', async () => {
    const c = client()
    const before = (await c.json('/api/lifecycle')).length
    await c.json('/api/visits')
    const first = c.jar.get('__Host-sid')!
    await c.fetch('/api/login?name=dora')
    const second = c.jar.get('__Host-sid')!
    await c.fetch('/api/logout')
    const events = (await c.json('/api/lifecycle')).slice(before)
    expect(events.map((e: { type: string, reason: string }) => [e.type, e.reason])).toEqual([['created', 'first write'], ['regenerated', 'regenerate()'], ['destroyed', 'destroy()']])
    expect(events[1].from).toBe(events[0].ref)
    expect(events[2].ref).toBe(events[1].ref)
    expect(events.every((e: { ref: string }) => /^[\da-f]{8}$/.test(e.ref))).toBe(true)
    for (const cookie of [first, second]) expect(JSON.stringify(events)).not.toContain(decodeURIComponent(cookie).split('.')[0])
  })

  it('requireServerSession: a 401 (ERR_SESSION_UNAUTHORIZED) with no cookie for a visitor, an anonymous session or a plain regenerate(); the account for a signed-in user', async () => {
    const visitor = client()
    const res = await visitor.fetch('/api/account')
    expect(res.status).toBe(401)
    expect(res.headers.getSetCookie()).toEqual([])
    expect(await res.json()).toMatchObject({ statusCode: 401, message: 'Sign-in required' })
    const anonymous = client()
    await anonymous.json('/api/visits')
    expect((await anonymous.fetch('/api/account')).status).toBe(401)
    await anonymous.fetch('/api/login?name=eve') // regenerate() and data: no signed-in user
    expect((await anonymous.fetch('/api/account')).status).toBe(401)
    const user = client()
    expect(await user.json('/api/sign-in?name=fay')).toEqual({ userId: 'fay' })
    expect(await user.json('/api/account')).toEqual({ account: 'FAY' })
    await user.fetch('/api/logout')
    expect((await user.fetch('/api/account')).status).toBe(401)
  })

  it('sign-out destroys the session and expires the cookie', async () => {
    const c = client()
    await c.fetch('/api/login?name=carol')
    const old = c.jar.get('__Host-sid')!
    await c.fetch('/api/logout')
    expect(c.jar.has('__Host-sid')).toBe(false)
    const replay = client()
    replay.jar.set('__Host-sid', old)
    expect(await replay.json('/api/me')).toMatchObject({ user: null })
  })

  it('useServerSession() without an event explains how to fix it when async context is off', async () => {
    const body = await client().json('/api/no-event')
    expect(body.ok).toBe(false)
    expect(body.message).toMatch(/useServerSession\(event\).*asyncContext: true/)
  })

  it('a page rendered on the server reads the session (useFetch forwards the cookie)', async () => {
    const c = client()
    await c.fetch('/api/login?name=dave')
    expect(await (await c.fetch('/')).text()).toContain('<p id="user">dave</p>')
    expect(await (await client().fetch('/')).text()).toContain('<p id="user">anonymous</p>')
  })

  it('internal fetches of one SSR render share one session, and its cookie reaches the browser on a first visit', async () => {
    const c = client()
    const first = await c.fetch('/ssr-visits')
    expect(await first.text()).toContain('<p id="visits">1,2</p>')
    expect(first.headers.get('cache-control')).toBe('private, no-store')
    expect(c.jar.has('__Host-sid')).toBe(true)
    expect(await c.json('/api/me')).toMatchObject({ visits: 2 })
    expect(await (await c.fetch('/ssr-visits')).text()).toContain('<p id="visits">3,4</p>')
  })

  it('a page whose own request loaded a stale session keeps the cookie its internal call set', async () => {
    const c = client()
    c.jar.set('__Host-sid', 'stale-or-garbage')
    const res = await c.fetch('/ssr-visits-mw')
    expect(await res.text()).toContain('<p id="visits">1,2</p>')
    const cookies = res.headers.getSetCookie().map(parseSetCookie).filter(sc => sc.name === '__Host-sid')
    expect(cookies).toHaveLength(1)
    expect(cookies[0]!.attributes['max-age']).not.toBe('0')
    expect(await c.json('/api/me')).toMatchObject({ visits: 2 })
  })

  it('a streamed response saves its session change on an internal call too', async () => {
    const c = client()
    expect(await (await c.fetch('/ssr-stream')).text()).toMatch(/<p id="stream">\s*streamed:stream\s*<\/p>/)
    expect(await c.json('/api/me')).toMatchObject({ via: 'stream' })
  })

  it('routeRules swr: an internal call that writes during a cached render neither sets a cookie nor touches the visitor\'s session', async () => {
    const alice = client()
    await alice.fetch('/api/login?name=alice')
    await alice.json('/api/visits')
    const cookie = alice.jar.get('__Host-sid')
    const res = await alice.fetch('/swr-writer')
    expect(res.status).toBe(200)
    expect(res.headers.getSetCookie()).toEqual([])
    expect(alice.jar.get('__Host-sid')).toBe(cookie)
    expect(await alice.json('/api/me')).toMatchObject({ user: 'alice', visits: 1 })
  })

  it('routeRules cache: a cached route never holds or serves a visitor\'s session or cookie', async () => {
    const alice = client()
    await alice.fetch('/api/login?name=alice')
    const aliceCookie = alice.jar.get('__Host-sid')
    const first = await alice.fetch('/api/cached')
    const body = await first.json()
    expect(body).toMatchObject({ user: null, saved: false })
    expect(first.headers.getSetCookie()).toEqual([])
    const bob = client()
    const second = await bob.fetch('/api/cached')
    expect(await second.json()).toEqual(body)
    expect(second.headers.getSetCookie()).toEqual([])
    expect(alice.jar.get('__Host-sid')).toBe(aliceCookie)
    expect(await alice.json('/api/me')).toMatchObject({ user: 'alice' })
  })

  for (const route of ['/api/cached-context', '/api/swr-context']) {
    it(`routeRules ${route.includes('swr') ? 'swr' : 'cache'}: a session a middleware mounted is anonymous inside the cached handler, so visitor B never sees visitor A's data`, async () => {
      const alice = client()
      await alice.fetch('/api/login?name=alice-cached')
      await alice.json('/api/visits')
      const aliceCookie = alice.jar.get('__Host-sid')!
      const first = await alice.fetch(route)
      const text = await first.text()
      expect(first.status).toBe(200)
      expect(text).not.toContain('alice-cached')
      const body = JSON.parse(text)
      // Whoever mounted it and however it is reached, the cached handler sees an empty session.
      expect(body.mounted).toMatchObject({ data: {}, isNew: true, userId: null })
      expect(body.viaH3).toEqual({ data: {}, isNew: true })
      expect(body.viaModule).toEqual({ data: {}, isNew: true })
      expect(first.headers.getSetCookie()).toEqual([])
      const bob = client()
      const second = await bob.fetch(route)
      const replayed = await second.text()
      expect(replayed).toBe(text)
      expect(replayed).not.toContain('alice-cached')
      expect(second.headers.getSetCookie()).toEqual([])
      expect(bob.jar.size).toBe(0)
      // Alice's own session is untouched by the cached render.
      expect(alice.jar.get('__Host-sid')).toBe(aliceCookie)
      expect(await alice.json('/api/me')).toMatchObject({ user: 'alice-cached', visits: 1 })
    })
  }

  it('routeRules swr: a cached page renders anonymously for everyone and sets no cookie', async () => {
    const alice = client()
    await alice.fetch('/api/login?name=alice')
    for (const c of [alice, client(), alice]) {
      const res = await c.fetch('/swr')
      expect(await res.text()).toContain('<p id="user">anonymous</p>')
      expect(res.headers.getSetCookie()).toEqual([])
    }
    expect(await alice.json('/api/me')).toMatchObject({ user: 'alice' })
  })

  it('keeps sessions across a server restart with zero configuration (SQLite under .data/session)', async () => {
    const c = client()
    await c.fetch('/api/login?name=erin')
    await startServer()
    const again = new Client(url('/').replace(/\/$/, ''))
    again.jar.set('__Host-sid', c.jar.get('__Host-sid')!)
    expect(await again.json('/api/me')).toMatchObject({ user: 'erin' })
  })

  it('production refuses to start without a secret, naming the env var', async () => {
    await expect(startServer({ env: { NUXT_SESSION_SECRET: 'too-short' } })).rejects.toThrow()
    const logs = useTestContext().serverLogs.join('\n')
    expect(logs).toMatch(/Missing or short session secret\. Set NUXT_SESSION_SECRET/)
    expect(logs).not.toContain('too-short')
  })
})
