import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { setup, useTestContext } from '@nuxt/test-utils/e2e'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, stopAll } from '../support/process'
import type { ServerProcess } from '../support/process'
import { figure } from '../support/figure'
import { Client } from '../support/server'
import { redisAddress } from '../support/services'

// "Your devices" through the Nuxt module: the auto-imported helpers in production builds, two
// instances sharing one Redis, so that what one instance does is seen by the other at once.
const PREFIX = `nss-e2e-devices-${process.pid}`
const SECRET = 'devices-e2e-secret-0123456789-0123456789'
const COOKIE = '__Host-sid'

describe('[nuxt-server-session] your devices across two Nuxt instances sharing Redis', async () => {
  await setup({ rootDir: fileURLToPath(new URL('../fixtures/redis', import.meta.url)), server: false })
  const redis = new Redis(redisAddress().url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  let entry: string
  let cwd: string
  let a: ServerProcess
  let b: ServerProcess
  const start = (extra: Record<string, string> = {}) => startServer(entry, {
    cwd,
    env: {
      NUXT_SESSION_SECRET: SECRET,
      NUXT_SESSION_REDIS_URL: redisAddress().url,
      NUXT_SESSION_REDIS_PREFIX: PREFIX,
      NUXT_SESSION_DEVICES_USER_AGENT: 'true',
      ...extra,
    },
  })

  beforeAll(async () => {
    await redis.connect()
    const output = useTestContext().nuxt!.options.nitro.output!.dir!
    entry = join(output, 'server/index.mjs')
    cwd = output
    ;[a, b] = await Promise.all([start(), start()])
  })
  afterAll(async () => {
    await stopAll()
    let cursor = '0'
    let pages = 0
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}:*`, 'COUNT', 500)
      if (keys.length) await redis.del(...keys)
      cursor = next
    } while (cursor !== '0' && ++pages < 10_000)
    await redis.quit()
  })

  /** One device: a cookie jar and a user agent, sent to whichever instance. */
  function device(ua: string) {
    const jar = new Map<string, string>()
    const on = (server: ServerProcess) => {
      const client = Object.assign(new Client(server.url), { jar })
      return {
        fetch: (path: string) => client.fetch(path, { headers: { 'user-agent': ua } }),
        json: (path: string) => client.json(path, { headers: { 'user-agent': ua } }),
      }
    }
    return { ua, jar, on }
  }

  it('signed in on A from three devices, listed on B; one revoked on B is anonymous on A at once; "everywhere else" from A leaves one', async () => {
    const [phone, laptop, tablet] = [device('Phone/1.0'), device('Laptop/2.0'), device('Tablet/3.0')]
    for (const d of [phone, laptop, tablet]) {
      expect(await d.on(a).json('/api/devices/sign-in?user=ada')).toEqual({ userId: 'ada' })
      expect(d.jar.has(COOKIE)).toBe(true)
    }

    const list = await laptop.on(b).json('/api/devices/list')
    expect(list).toHaveLength(3)
    expect(list.map((s: any) => s.device)).toEqual(['Phone/1.0', 'Laptop/2.0', 'Tablet/3.0'])
    expect(list.filter((s: any) => s.current).map((s: any) => s.device)).toEqual(['Laptop/2.0'])
    for (const s of list) {
      expect(s.handle).toMatch(/^[\da-f]{24}$/)
      expect(s.lastSeenAt).toBeGreaterThanOrEqual(s.createdAt)
      expect(s.expiresAt).toBeGreaterThan(Date.now())
    }
    // Neither the cookies' ids nor the user id appear in what is listed or in Redis keys.
    for (const d of [phone, laptop, tablet]) expect(JSON.stringify(list)).not.toContain(d.jar.get(COOKIE)!.split('.')[0])
    const userKeys: string[] = []
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}:user:*`, 'COUNT', 500)
      userKeys.push(...keys)
      cursor = next
    } while (cursor !== '0')
    expect(userKeys).toHaveLength(1)
    expect(userKeys[0]).not.toContain('ada')
    expect(await redis.ttl(userKeys[0]!)).toBeGreaterThan(0)

    // Revoke the phone from the laptop, on B: the phone's very next request, on A, is anonymous.
    const phoneHandle = list.find((s: any) => s.device === 'Phone/1.0').handle
    expect(await laptop.on(b).json(`/api/devices/revoke?handle=${phoneHandle}`)).toEqual({ ok: true })
    expect(await phone.on(a).json('/api/devices/me')).toEqual({ userId: null, isNew: true })
    expect(phone.jar.has(COOKIE)).toBe(false)
    expect(await phone.on(a).json('/api/devices/list')).toEqual([])
    expect((await tablet.on(a).json('/api/devices/list')).map((s: any) => s.device)).toEqual(['Laptop/2.0', 'Tablet/3.0'])

    // "Sign out everywhere else" from the laptop, on A: checked from B.
    expect(await laptop.on(a).json('/api/devices/revoke-all?keepCurrent=1')).toEqual({ ok: true })
    const left = await laptop.on(b).json('/api/devices/list')
    expect(left).toEqual([expect.objectContaining({ device: 'Laptop/2.0', current: true })])
    expect(await tablet.on(b).json('/api/devices/me')).toEqual({ userId: null, isNew: true })
    expect(await laptop.on(b).json('/api/devices/me')).toEqual({ userId: 'ada', isNew: false })
    expect(await redis.hlen(userKeys[0]!)).toBe(1)

    // Signing out everywhere, this device too: nothing is left in the index.
    expect(await laptop.on(b).json('/api/devices/revoke-all')).toEqual({ ok: true })
    expect(await laptop.on(a).json('/api/devices/me')).toEqual({ userId: null, isNew: true })
    expect(await redis.exists(userKeys[0]!)).toBe(0)
  })

  it('NUXT_SESSION_MAX_SESSIONS_PER_USER=2 caps the sessions on a third instance (and NUXT_SESSION_SESSION_LIMIT=refuse refuses)', async () => {
    const [c, d] = await Promise.all([
      start({ NUXT_SESSION_MAX_SESSIONS_PER_USER: '2' }),
      start({ NUXT_SESSION_MAX_SESSIONS_PER_USER: '2', NUXT_SESSION_SESSION_LIMIT: 'refuse' }),
    ])
    const [first, second, third] = [device('first'), device('second'), device('third')]
    for (const dev of [first, second, third]) {
      expect((await dev.on(c).fetch('/api/devices/sign-in?user=bob')).status).toBe(200)
    }
    // The oldest went; the list, from any instance, has the cap's worth.
    expect(await first.on(a).json('/api/devices/me')).toEqual({ userId: null, isNew: true })
    expect(await second.on(a).json('/api/devices/me')).toEqual({ userId: 'bob', isNew: false })
    expect((await third.on(b).json('/api/devices/list')).map((s: any) => s.device)).toEqual(['second', 'third'])
    // A and B have no cap: the same user signs in a third time there.
    const fourth = device('fourth')
    await fourth.on(a).json('/api/devices/sign-in?user=bob')
    expect(await fourth.on(b).json('/api/devices/list')).toHaveLength(3)

    const [p, q, r] = [device('p'), device('q'), device('r')]
    expect((await p.on(d).fetch('/api/devices/sign-in?user=carol')).status).toBe(200)
    expect((await q.on(d).fetch('/api/devices/sign-in?user=carol')).status).toBe(200)
    const refused = await r.on(d).fetch('/api/devices/sign-in?user=carol')
    expect(refused.status).toBe(409)
    expect(await r.on(d).json('/api/devices/me')).toEqual({ userId: null, isNew: true })
    for (const dev of [p, q]) expect(await dev.on(b).json('/api/devices/me')).toEqual({ userId: 'carol', isNew: false })
  })

  it('the cap holds across two capped instances under parallel sign-ins of one user (refuse and evict-oldest, 100 rounds each)', async () => {
    const outcome: Record<string, number[]> = {}
    for (const limit of ['refuse', 'evict-oldest']) {
      const env = { NUXT_SESSION_MAX_SESSIONS_PER_USER: '2', NUXT_SESSION_SESSION_LIMIT: limit }
      const [x, y] = await Promise.all([start(env), start(env)])
      outcome[limit] = []
      for (let round = 0; round < 100; round++) {
        const user = `cap-${limit}-${round}`
        const devices = Array.from({ length: 10 }, (_, i) => device(`d${i}`))
        await Promise.all(devices.map((dev, i) => dev.on(i % 2 ? x : y).fetch(`/api/devices/sign-in?user=${user}`)))
        const signedIn = (await Promise.all(devices.map(dev => dev.on(a).json('/api/devices/me')))).filter(me => me.userId === user).length
        outcome[limit]!.push(signedIn)
      }
      await Promise.all([x.stop(), y.stop()])
    }
    figure(`maxSessionsPerUser 2 on two instances sharing Redis, 10 parallel sign-ins of one user, 100 rounds: 'refuse' let in at most ${Math.max(...outcome.refuse!)}, 'evict-oldest' left at most ${Math.max(...outcome['evict-oldest']!)}`)
    expect(Math.max(...outcome.refuse!)).toBeLessThanOrEqual(2)
    expect(Math.min(...outcome.refuse!)).toBeGreaterThanOrEqual(1)
    expect(outcome['evict-oldest']!.every(n => n >= 1 && n <= 2)).toBe(true)
  })
})
