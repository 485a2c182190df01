import { fileURLToPath } from 'node:url'
import { setup, url } from '@nuxt/test-utils/e2e'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { storeKeyOf } from '../../src/runtime/server/core/crypto'
import { Client, parseSetCookie } from '../support/server'

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
  const redis = new Redis({ host: '127.0.0.1', port: 6379 })
  const ids: string[] = []
  afterAll(async () => {
    for (const id of ids) await redis.del(`${BASE}:${await storeKeyOf(id)}`)
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
    const key = `${BASE}:${await storeKeyOf(id)}`
    const stored = JSON.parse((await redis.get(key))!)
    expect(stored.data).toEqual({ visits: 1 })
    expect(stored.expiresAt - stored.touchedAt).toBe(120_000)
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
})
