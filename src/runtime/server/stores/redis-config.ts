import type { Cluster, Redis, RedisOptions } from 'ioredis'
import type { SessionRuntimeConfig } from '../../types'
import { RedisSessionStore } from './redis'

type RedisConfig = SessionRuntimeConfig['redis']

/**
 * The Redis store that `runtimeConfig.session.redis` asks for, read when the server starts (so
 * `NUXT_SESSION_REDIS_URL` and friends apply at run time), or `undefined` to use the storage mount.
 * A cluster wins over Sentinel, which wins over a URL.
 */
export function redisStoreFromConfig(redis: RedisConfig | undefined, ttl: number): RedisSessionStore | undefined {
  if (!redis || (!redis.url && !redis.cluster && !redis.sentinels)) return undefined
  const options = { prefix: redis.prefix || undefined, ttl }
  // Fail fast while disconnected (a 503 at once, no late writes); ioredis reconnects by itself.
  // Auto-pipelining: the commands of requests served in one event-loop turn go in one write.
  const common: RedisOptions = {
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    ...(redis.password ? { password: redis.password } : {}),
    ...(redis.tls ? { tls: {} } : {}),
  }
  const quiet = <C extends Redis | Cluster>(client: C): C => {
    client.on('error', () => {})
    return client
  }
  if (redis.cluster) {
    return new RedisSessionStore(() => import('ioredis').then(({ Cluster }) => quiet(new Cluster(_nodes(redis.cluster), { enableOfflineQueue: false, enableAutoPipelining: true, redisOptions: common }))), options)
  }
  if (redis.sentinels) {
    return new RedisSessionStore(() => import('ioredis').then(({ Redis }) => quiet(new Redis({ ...common, sentinels: _nodes(redis.sentinels), name: redis.sentinelName || 'mymaster' }))), options)
  }
  return new RedisSessionStore(redis.url, { ...options, redisOptions: common })
}

/** `host:port,host:port` (or a JSON array of them) as ioredis node addresses. */
function _nodes(list: string | string[]): { host: string, port: number }[] {
  const items = Array.isArray(list) ? list : String(list).split(',')
  return items.map(s => String(s).trim()).filter(Boolean).map((node) => {
    const i = node.lastIndexOf(':')
    return i === -1 ? { host: node, port: 6379 } : { host: node.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(node.slice(i + 1)) }
  })
}
