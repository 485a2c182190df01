/**
 * `nuxt-server-session/h3`: sessions for AnalogJS and plain h3 apps, h3 1 and h3 2 alike. It
 * imports neither Nuxt nor Nitro, nor h3 itself at run time.
 *
 * @example
 * ```ts
 * import { useSession, UnstorageSessionStore } from 'nuxt-server-session/h3'
 * await useSession(event, { store, secret })
 * const session = event.context.sessionHandler
 * ```
 */
export { useSession } from './server/adapters'
export { sessionAutoSave } from './server/adapters/h3-v2/middleware'
export { listSessions, revokeSession, revokeSessions, signInSession } from './server/core/devices'
export type { UserSession } from './server/core/devices'
export { UnstorageSessionStore } from './server/stores/unstorage'
export type { UnstorageSessionStoreOptions } from './server/stores/unstorage'
export { default as sessionSqliteDriver, SqliteBusyError, SqliteStoreError } from './server/storage/sqlite'
export type { SessionSqliteDriver, SessionSqliteDriverOptions } from './server/storage/sqlite'
export { RedisSessionStore } from './server/stores/redis'
export type { RedisSessionStoreOptions } from './server/stores/redis'
export { PostgresSessionStore } from './server/stores/postgres'
export type { PostgresQueryable, PostgresSessionStoreOptions } from './server/stores/postgres'
export { safeRedirect } from './server/core/redirect'
export { decodeSessionRecord, encodeSessionRecord } from './server/core/store'
export type { SessionIndexEntry, SessionRecord, SessionStore, SessionWrite } from './server/core/store'
export { SessionConfigError, SessionDataError, SessionError, SessionGoneError, SessionLimitError, SessionRecordError, SessionStoreError, SessionUnauthorizedError } from './server/core/errors'
export type { SessionEvent } from './server/core/host'
export type { ServerSession, SessionCookieOptions, SessionData, SessionDataT, SessionLifecycleEvent, SessionLogger, SessionOptions } from './types'
