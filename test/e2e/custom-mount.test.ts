import { fileURLToPath } from 'node:url'
import { setup, url } from '@nuxt/test-utils/e2e'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { storeKeyOf } from '../../src/runtime/server/core/crypto'
import { figure } from '../support/figure'
import { Client, parseSetCookie } from '../support/server'
import { redisAddress } from '../support/services'

const BASE = 'nss-e2e-custom'

describe('[nuxt-server-session] Nuxt module with the app\'s own storage mount (Redis) and runtime env overrides', async () => {
  await setup({
    rootDir: fileURLToPath(new URL('../fixtures/custom-mount', import.meta.url)),
    env: {
      NUXT_SESSION_SECRET: JSON.stringify(['old-secret-0123456789-0123456789-0123', 'new-secret-0123456789-0123456789-0123']),
      NUXT_SESSION_TTL: '120',
      NUXT_SESSION_COOKIE_SAME_SITE: 'lax',
    },
  })
  const redis = new Redis(redisAddress().url)
  const ids: string[] = []
  /** Where the mount keeps a session: one hash under the driver's base, as RedisSessionStore does. */
  const redisKeyOf = async (id: string) => {
    const key = await storeKeyOf(id)
    return `${BASE}:{${key.slice(0, 2)}}${key.slice(2)}`
  }
  afterAll(async () => {
    for (const id of ids) await redis.del(await redisKeyOf(id))
    await redis.quit()
  })

  it('keeps sessions in the user\'s mount, with the configured cookie name and the env-overridden attributes', async () => {
    const client = new Client(url('/').replace(/\/$/, ''))
    const res = await client.fetch('/api/visits')
    expect(await res.json()).toEqual({ visits: 1, isNew: true })
    const cookie = parseSetCookie(res.headers.getSetCookie()[0]!)
    expect(cookie.name).toBe('app-session')
    expect(cookie.attributes.samesite).toBe('Lax')
    const id = cookie.value.split('.')[0]!
    ids.push(id)
    const key = await redisKeyOf(id)
    expect(await redis.type(key)).toBe('hash')
    const stored = await redis.hgetall(key)
    expect(stored['d:visits']).toBe('1')
    expect(Number(stored._e) - Number(stored._t)).toBe(120_000)
    const ttl = await redis.ttl(key)
    expect(ttl).toBeGreaterThan(100)
    expect(ttl).toBeLessThanOrEqual(120)
    expect(await client.json('/api/visits')).toEqual({ visits: 2, isNew: false })
  })

  it('signs with the last secret of a JSON array given in NUXT_SESSION_SECRET', async () => {
    const client = new Client(url('/').replace(/\/$/, ''))
    await client.fetch('/api/visits')
    const value = client.jar.get('app-session')!
    ids.push(value.split('.')[0]!)
    const { signCookieValue } = await import('../../src/runtime/server/core/crypto')
    expect(value).toBe(await signCookieValue('new-secret-0123456789-0123456789-0123', 'app-session', value.split('.')[0]!))
  })

  it('50 parallel requests of one session, each changing its own key, all keep their change on the redis mount', async () => {
    const client = new Client(url('/').replace(/\/$/, ''))
    await client.fetch('/api/set/init?value=1')
    ids.push(client.jar.get('app-session')!.split('.')[0]!)
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => client.fetch(`/api/set/k${i}?value=v${i}`)))
    expect(responses.map(r => r.status)).toEqual(Array.from({ length: 50 }, () => 200))
    await Promise.all(responses.map(r => r.arrayBuffer()))
    const { data, isNew } = await client.json('/api/read')
    expect(isNew).toBe(false)
    const kept = Array.from({ length: 50 }, (_, i) => i).filter(i => data[`k${i}`] === `v${i}`).length
    figure(`built Nuxt app, nitro.storage.sessions = { driver: 'redis' }: 50 parallel disjoint writes kept ${kept}/50`)
    expect(kept).toBe(50)
  })
})
