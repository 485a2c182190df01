import { fileURLToPath } from 'node:url'
import { setup, url } from '@nuxt/test-utils/e2e'
import { describe, expect, it } from 'vitest'
import { Client, parseSetCookie } from '../support/server'

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

describe('[nuxt-server-session] Nuxt module with rolling sessions and async context', async () => {
  await setup({
    rootDir: fileURLToPath(new URL('../fixtures/rolling', import.meta.url)),
    env: { NUXT_SESSION_SECRET: 'rolling-secret-0123456789-0123456789-01' },
  })
  const maxAge = (res: Response) => Number(parseSetCookie(res.headers.getSetCookie()[0] ?? 'x=; Max-Age=-1').attributes['max-age'])

  it('useServerSession() works without an event when Nitro\'s async context is on', async () => {
    const client = new Client(url('/').replace(/\/$/, ''))
    expect(await client.json('/api/visits')).toEqual({ visits: 1 })
    expect(await client.json('/api/me')).toMatchObject({ visits: 1 })
  })

  it('rolling re-sends the cookie with a Max-Age that follows the idle timeout, once per touch interval', async () => {
    const client = new Client(url('/').replace(/\/$/, ''))
    const first = await client.fetch('/api/visits')
    expect(maxAge(first)).toBe(3)
    const immediate = await client.fetch('/api/me')
    expect(immediate.headers.getSetCookie()).toEqual([])
    await sleep(1100)
    const touched = await client.fetch('/api/me')
    expect(maxAge(touched)).toBe(3)
    expect((await touched.json()).visits).toBe(1)
  })

  it('an idle session ends after ttl on the server, whatever the browser keeps', async () => {
    const client = new Client(url('/').replace(/\/$/, ''))
    await client.fetch('/api/visits')
    const cookie = client.jar.get('__Host-sid')!
    await sleep(3200)
    const replay = new Client(url('/').replace(/\/$/, ''))
    replay.jar.set('__Host-sid', cookie)
    expect(await replay.json('/api/me')).toMatchObject({ visits: 0 })
  })
})
