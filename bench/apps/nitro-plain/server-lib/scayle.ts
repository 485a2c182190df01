import type { H3Event } from 'h3'
import { UnstorageSessionStore, useSession } from '@scayle/h3-session'
import { createStorage } from 'unstorage'
import redisDriver from 'unstorage/drivers/redis'

let store: UnstorageSessionStore | undefined

/** @scayle/h3-session with an unstorage redis store, as its README shows; Redis from BENCH_REDIS_URL. */
export async function useScayleSession(event: H3Event): Promise<{ visits?: number }> {
  store ??= new UnstorageSessionStore(createStorage({ driver: redisDriver({ url: process.env.BENCH_REDIS_URL, base: 'bench-scayle' }) }), { ttl: 60 * 60 * 24 })
  await useSession(event, { store, secret: process.env.BENCH_SCAYLE_SECRET!, saveUninitialized: false })
  return event.context.session.data as { visits?: number }
}
