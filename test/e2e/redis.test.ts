import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { setup, useTestContext } from '@nuxt/test-utils/e2e'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { storeKeyOf } from '../../src/runtime/server/core/crypto'
import { startServer, stopAll } from '../support/process'
import type { ServerProcess } from '../support/process'
import { Client } from '../support/server'
import { redisAddress } from '../support/services'
import { figure } from '../support/figure'
import { tcpProxy } from '../support/tcp-proxy'

const PREFIX = `nss-e2e-redis-${process.pid}`
const SECRET = 'redis-e2e-secret-0123456789-0123456789-01'
const COOKIE = '__Host-sid'

async function until(check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

describe('[nuxt-server-session] Nuxt module on Redis chosen at run time (NUXT_SESSION_REDIS_URL)', async () => {
  await setup({ rootDir: fileURLToPath(new URL('../fixtures/redis', import.meta.url)), server: false })
  const redis = new Redis(redisAddress().url)
  let entry: string
  let cwd: string
  let a: ServerProcess
  let b: ServerProcess
  const start = (url: string, extra: Record<string, string> = {}) => startServer(entry, {
    cwd,
    env: { NUXT_SESSION_SECRET: SECRET, NUXT_SESSION_REDIS_URL: url, NUXT_SESSION_REDIS_PREFIX: PREFIX, ...extra },
  })

  beforeAll(async () => {
    const output = useTestContext().nuxt!.options.nitro.output!.dir!
    entry = join(output, 'server/index.mjs')
    cwd = output
    ;[a, b] = await Promise.all([start(redisAddress().url), start(redisAddress().url)])
  })
  afterAll(async () => {
    await stopAll()
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}:*`, 'COUNT', 500)
      if (keys.length) await redis.del(...keys)
      cursor = next
    } while (cursor !== '0')
    await redis.quit()
  })

  /** One visitor's cookie jar, sent to either instance. */
  function visitor() {
    const jar = new Client('')
    const on = (server: ServerProcess) => ({
      fetch: (path: string, init?: RequestInit) => Object.assign(new Client(server.url), { jar: jar.jar }).fetch(path, init),
      json: (path: string) => Object.assign(new Client(server.url), { jar: jar.jar }).json(path),
    })
    return { jar: jar.jar, on }
  }

  it('two app instances sharing Redis serve one visitor\'s requests alternately without a hitch', async () => {
    const v = visitor()
    for (let i = 1; i <= 10; i++) {
      expect(await v.on(i % 2 ? a : b).json('/api/visits')).toMatchObject({ visits: i })
    }
    expect((await v.on(a).fetch('/api/login?name=ada')).status).toBe(302)
    expect(await v.on(b).json('/api/me')).toMatchObject({ user: 'ada', visits: 10 })
    expect((await v.on(b).fetch('/api/logout')).status).toBe(302)
    expect(v.jar.has(COOKIE)).toBe(false)
    expect(await v.on(a).json('/api/me')).toMatchObject({ user: null, visits: 0 })
  })

  it('50 parallel requests over both instances, each setting a different key, all keep their change', async () => {
    const v = visitor()
    await v.on(a).json('/api/visits')
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => v.on(i % 2 ? a : b).fetch(`/api/set/k${i}`)))
    expect(results.every(r => r.status === 200)).toBe(true)
    const { data } = await v.on(b).json('/api/me')
    const kept = Array.from({ length: 50 }, (_, i) => `k${i}`).filter(k => data[k] === true).length
    figure(`50 parallel writes through two Nuxt instances on RedisSessionStore: ${kept}/50 kept`)
    expect(kept).toBe(50)
  })

  it('keys carry a TTL and never contain the raw id', async () => {
    const v = visitor()
    await v.on(a).json('/api/visits')
    const id = v.jar.get(COOKIE)!.split('.')[0]!
    const hash = await storeKeyOf(id)
    const key = `${PREFIX}:{${hash.slice(0, 2)}}${hash.slice(2)}`
    expect(await redis.exists(key)).toBe(1)
    const ttl = await redis.pttl(key)
    expect(ttl).toBeGreaterThan(86_000_000)
    expect(ttl).toBeLessThanOrEqual(86_400_000)
    expect(key).not.toContain(id)
    expect(JSON.stringify(await redis.hgetall(key))).not.toContain(id)
  })

  it('outage: while Redis is cut, session routes answer 503 and others 200, nothing crashes, and afterwards every session is intact', async () => {
    const proxy = await tcpProxy({ host: redisAddress().host, port: redisAddress().port })
    try {
      const c = await start(`redis://127.0.0.1:${proxy.port}`, { NUXT_SESSION_STORE_TIMEOUT: '500' })
      const visitors = Array.from({ length: 5 }, () => visitor())
      for (const v of visitors) {
        await v.on(c).json('/api/visits')
        await v.on(c).json('/api/visits')
      }
      proxy.cut()
      const statuses = { session: new Map<number, number>(), lazy: new Map<number, number>() }
      const deadline = Date.now() + 2000
      while (Date.now() < deadline) {
        for (const v of visitors) {
          const s = (await v.on(c).fetch('/api/visits')).status
          statuses.session.set(s, (statuses.session.get(s) ?? 0) + 1)
          const l = (await v.on(c).fetch('/api/lazy')).status
          statuses.lazy.set(l, (statuses.lazy.get(l) ?? 0) + 1)
        }
      }
      figure(`during the cut: session routes ${JSON.stringify(Object.fromEntries(statuses.session))}, lazy route ${JSON.stringify(Object.fromEntries(statuses.lazy))}`)
      expect([...statuses.session.keys()]).toEqual([503])
      expect([...statuses.lazy.keys()]).toEqual([200])
      expect(c.child.exitCode).toBeNull()
      proxy.restore()
      await until(async () => (await visitors[0]!.on(c).fetch('/api/me')).status === 200)
      for (const v of visitors) {
        expect(v.jar.has(COOKIE)).toBe(true)
        expect(await v.on(c).json('/api/me')).toMatchObject({ visits: 2 })
        expect(await v.on(c).json('/api/visits')).toMatchObject({ visits: 3 })
      }
    }
    finally {
      await proxy.close()
    }
  })
})
