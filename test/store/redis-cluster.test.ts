/**
 * RedisSessionStore on a Redis Cluster: a private 3-master cluster on free loopback ports
 * (started here, stopped and removed afterwards), reached through ioredis' `Cluster`. Runs the
 * conformance suite, the parallel-writes and the concurrent-regenerates scenarios over HTTP,
 * and checks that a regenerated session's key stays in its slot (the move is one script).
 * Skipped, with the reason printed, when redis-server or redis-cli are not installed.
 */
import { once } from 'node:events'
import { Cluster } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RedisSessionStore } from 'nuxt-server-session/h3'
import { serve } from '../support/server'
import type { TestServer } from '../support/server'
import { redisBinaries, scanKeys, startRedisCluster } from '../support/redis'
import type { RedisClusterProcess } from '../support/redis'
import { destroyRacingSave, gatedSessionApp, parallelWrites, racingRegenerates, redisBackend } from '../support/store-scenarios'
import type { GatedApp } from '../support/store-scenarios'
import { describeStoreConformance } from './conformance'

const PREFIX = 'nss-test-cluster'
const binaries = redisBinaries()
if (!binaries.ok) console.log(`[skip] Redis Cluster tests skipped: ${binaries.reason}`)

describe.skipIf(!binaries.ok)('[nuxt-server-session] RedisSessionStore on a Redis Cluster (3 local masters)', () => {
  let cluster: RedisClusterProcess
  let client: Cluster

  beforeAll(async () => {
    cluster = await startRedisCluster({ timeout: 20_000 })
    client = new Cluster([{ host: '127.0.0.1', port: cluster.ports[0]! }], {
      redisOptions: { maxRetriesPerRequest: 1, connectTimeout: 5000 },
      clusterRetryStrategy: times => (times > 10 ? null : 200),
    })
    client.on('error', () => {})
    const ready = once(client, 'ready')
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('ioredis Cluster not ready within 10 s')), 10_000).unref())
    await Promise.race([ready, timeout])
  }, 60_000)

  afterAll(async () => {
    await client?.quit().catch(() => {})
    await cluster?.stop()
  })

  it('the cluster has three masters that share the 16384 slots', async () => {
    expect(client.nodes('master')).toHaveLength(3)
    const slots = await client.cluster('SLOTS') as [number, number, ...unknown[]][]
    expect(slots.reduce((n, [from, to]) => n + to - from + 1, 0)).toBe(16_384)
  })

  describeStoreConformance('RedisSessionStore on a Redis Cluster (ioredis Cluster, 3 masters)', async () => ({
    store: new RedisSessionStore(client, { prefix: `${PREFIX}:conformance` }),
  }), { raw: false })

  describe('[nuxt-server-session] RedisSessionStore on a Redis Cluster over HTTP', () => {
    let store: RedisSessionStore
    let gated: GatedApp
    let server: TestServer

    beforeAll(async () => {
      store = new RedisSessionStore(client, { prefix: `${PREFIX}:http` })
      gated = gatedSessionApp(store)
      server = await serve(gated.app)
    })
    afterAll(async () => {
      await server?.close()
    })

    it('50 parallel requests with one session, each setting its own key: all 50 survive', async () => {
      const kept = await parallelWrites(server.url, 50)
      console.log(`[figure] 50 parallel writes on Redis Cluster: RedisSessionStore kept ${kept}/50`)
      expect(kept).toBe(50)
    })

    it('two concurrent regenerates of one session (5 rounds): exactly one wins, the other gets 409, and the new key is in the old key\'s slot', async () => {
      for (let round = 0; round < 5; round++) {
        const { oldKey, newKey } = await racingRegenerates(server.url, gated, redisBackend(client, store))
        const [oldSlot, newSlot] = await Promise.all([client.cluster('KEYSLOT', oldKey), client.cluster('KEYSLOT', newKey)])
        expect(newSlot).toBe(oldSlot)
      }
    })

    it('destroy racing a slow automatic save: 409, and the session stays destroyed', async () => {
      await destroyRacingSave(server.url, gated, redisBackend(client, store), 'auto')
    })

    it('sessions are spread over the masters, and every session key has an expiry', async () => {
      // Enough sessions that all three masters hold some (256 tags spread over 3 masters).
      for (let i = 0; i < 10; i++) await parallelWrites(server.url, 2)
      const perMaster = await Promise.all(client.nodes('master').map(node => scanKeys(node, `${PREFIX}:*`)))
      expect(perMaster.filter(keys => keys.length > 0).length).toBeGreaterThanOrEqual(2)
      for (const key of perMaster.flat()) {
        const pttl = await client.pttl(key)
        if (pttl !== -2) expect(pttl).toBeGreaterThan(0)
      }
    })
  })
})
