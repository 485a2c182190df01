import { existsSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { createApp } from 'h3'
import type { EventHandler } from 'h3'
import { H3 } from 'h3-v2'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { storeKeyOf } from '../../src/runtime/server/core/crypto'
import { figure } from '../support/figure'
import { serveV2App } from '../support/check-apps'
import { Client, serve } from '../support/server'
import { redisAddress } from '../support/services'

const README = fileURLToPath(new URL('../../README.md', import.meta.url))
// The seed README ships beside the repository, in shared/seed (as on developer machines and CI).
const SEED = fileURLToPath(new URL('../../../shared/seed/analog-tools-session-README.txt', import.meta.url))
const TMP = fileURLToPath(new URL('../.tmp/', import.meta.url))

/** The code between the quick-start markers of the README, without its fence. */
async function readmeQuickStart(): Promise<string> {
  const readme = await readFile(README, 'utf8')
  const block = readme.match(/<!-- quick-start:start -->\s*```ts\n([\s\S]*?)```\s*<!-- quick-start:end -->/)
  if (!block) throw new Error('README.md has no quick-start block')
  return block[1]!
}

/**
 * The quick start aimed at this run's Redis: the README keeps the seed's `host: 'localhost',
 * port: 6379`, which must be there exactly (so that the substitution cannot silently miss).
 */
function atTestRedis(code: string): string {
  const { host, port } = redisAddress()
  expect(code).toContain('host: \'localhost\',')
  expect(code).toContain('port: 6379,')
  return code.replace('host: \'localhost\',', `host: ${JSON.stringify(host)},`).replace('port: 6379,', `port: ${port},`)
}

describe('[nuxt-server-session] README quick start (the seed\'s, import path changed) on a real Redis', () => {
  const ids: string[] = []
  afterAll(async () => {
    await rm(TMP, { recursive: true, force: true })
    const { host, port } = redisAddress()
    const redis = new Redis({ host, port })
    // The store keeps each session as RedisSessionStore does: one hash, `sess:{<tag>}<rest>`.
    for (const id of ids) {
      const key = await storeKeyOf(id)
      await redis.del(`sess:{${key.slice(0, 2)}}${key.slice(2)}`)
    }
    await redis.quit()
  })

  it.skipIf(!existsSync(SEED))('is the seed README\'s quick start with only the import path changed', async () => {
    const code = await readmeQuickStart()
    const seed = await readFile(SEED, 'utf8')
    const seedBlock = seed.slice(seed.indexOf('import { defineEventHandler } from \'h3\';'), seed.indexOf('Usage with AnalogJS'))
    const normalise = (text: string) => text.split('\n').map(l => l.trim()).filter(Boolean).join('\n')
    expect(normalise(code)).toBe(normalise(seedBlock.replace('@analog-tools/session', 'nuxt-server-session/h3')))
  })

  it('runs as written (its Redis address aimed at the test run\'s) and counts visits across requests', async () => {
    await mkdir(TMP, { recursive: true })
    const file = `${TMP}quick-start-${process.pid}.ts`
    await writeFile(file, atTestRedis(await readmeQuickStart()))
    const handler = (await import(/* @vite-ignore */ file)).default as EventHandler
    const server = await serve(createApp().use(handler))
    try {
      const client = new Client(server.url)
      const first = await client.json('/')
      ids.push(first.sessionId)
      expect(first.visits).toBe(1)
      const second = await client.json('/')
      const third = await client.json('/')
      expect([second.visits, third.visits]).toEqual([2, 3])
      expect(new Set([first.sessionId, second.sessionId, third.sessionId]).size).toBe(1)
      const other = await new Client(server.url).json('/')
      ids.push(other.sessionId)
      expect(other.visits).toBe(1)
      expect(other.sessionId).not.toBe(first.sessionId)
    }
    finally {
      await server.close()
    }
  })

  it('runs as written on h3 2 (h3 2.0.8) under h3\'s serve(app), and counts visits with its explicit save()', async () => {
    await mkdir(TMP, { recursive: true })
    const file = `${TMP}quick-start-h3v2-${process.pid}.ts`
    // An h3 2 app's \'h3\' is h3 2: here that is the h3-v2 alias, the one specifier changed.
    const code = atTestRedis(await readmeQuickStart())
    expect(code).toContain('from \'h3\';')
    await writeFile(file, code.replace('from \'h3\';', 'from \'h3-v2\';'))
    const handler = (await import(/* @vite-ignore */ file)).default
    const server = await serveV2App(new H3().use(handler))
    try {
      const client = new Client(server.url)
      const first = await client.json('/')
      ids.push(first.sessionId)
      expect(first.visits).toBe(1)
      expect([(await client.json('/')).visits, (await client.json('/')).visits]).toEqual([2, 3])
      const other = await new Client(server.url).json('/')
      ids.push(other.sessionId)
      expect(other.visits).toBe(1)
      expect(other.sessionId).not.toBe(first.sessionId)
    }
    finally {
      await server.close()
    }
  })

  it('the quick start\'s store, as written, keeps all of 50 parallel requests that each change another key of one session', async () => {
    await mkdir(TMP, { recursive: true })
    const file = `${TMP}quick-start-disjoint-${process.pid}.ts`
    // The README's code as it is, plus one route of the test's own on the same `sessionStore`.
    await writeFile(file, `${atTestRedis(await readmeQuickStart())}
export const setKey = defineEventHandler(async (event) => {
  await useSession(event, { store: sessionStore, secret: 'my-super-secret-key' });
  const [key, value] = (event.path.split('?')[1] ?? '').split('=');
  event.context.sessionHandler.update((data) => ({ ...data, [key!]: value }));
  await event.context.sessionHandler.save();
  return { id: event.context.sessionHandler.id, data: event.context.sessionHandler.data };
});
`)
    const { setKey } = (await import(/* @vite-ignore */ file)) as { setKey: EventHandler }
    const server = await serve(createApp().use(setKey))
    try {
      const client = new Client(server.url)
      const first = await client.json('/?init=1')
      ids.push(first.id)
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => client.json(`/?k${i}=v${i}`)))
      expect(new Set(results.map(r => r.id))).toEqual(new Set([first.id]))
      const { data } = await client.json('/?last=1')
      const kept = Array.from({ length: 50 }, (_, i) => i).filter(i => data[`k${i}`] === `v${i}`).length
      figure(`50 parallel disjoint writes to one session with the seed's quick-start store (UnstorageSessionStore on unstorage's redis driver): ${kept}/50 kept`)
      expect(kept).toBe(50)
    }
    finally {
      await server.close()
    }
  })
})
