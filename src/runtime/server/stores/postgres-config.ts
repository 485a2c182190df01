import type { SessionRuntimeConfig } from '../../types'
import { PostgresSessionStore } from './postgres'

/**
 * The PostgreSQL store that `runtimeConfig.session.postgres` asks for, read when the server
 * starts (so `NUXT_SESSION_POSTGRES_URL` and friends apply at run time), or `undefined`.
 * Statements and the wait for a connection are bounded by `storeTimeout`, after which the
 * request has its 503 and the server cancels the statement.
 */
export function postgresStoreFromConfig(config: SessionRuntimeConfig['postgres'] | undefined, ttl: number, storeTimeout: number): PostgresSessionStore | undefined {
  if (!config?.url) return undefined
  const tls = config.tls === 'no-verify' ? 'no-verify' : config.tls === true || config.tls === 'true'
  return new PostgresSessionStore(config.url, {
    ttl,
    timeout: storeTimeout,
    ...(config.schema ? { schema: config.schema } : {}),
    ...(config.table ? { table: config.table } : {}),
    ...(Number(config.poolSize) > 0 ? { poolSize: Number(config.poolSize) } : {}),
    tls,
    createTable: config.createTable !== false && config.createTable !== 'false',
    prepare: config.prepare !== false && config.prepare !== 'false',
  })
}
