/**
 * `nuxt-server-session/h3`: the framework-free core, for AnalogJS and plain h3 apps. It imports
 * neither Nuxt nor Nitro.
 *
 * @example
 * ```ts
 * import { useSession, UnstorageSessionStore } from 'nuxt-server-session/h3'
 * await useSession(event, { store, secret })
 * const session = event.context.sessionHandler
 * ```
 */
export { useSession } from './server/core/session'
export { listSessions, revokeSession, revokeSessions, signInSession } from './server/core/devices'
export type { UserSession } from './server/core/devices'
export { UnstorageSessionStore } from './server/stores/unstorage'
export type { UnstorageSessionStoreOptions } from './server/stores/unstorage'
export { default as sessionSqliteDriver, SqliteBusyError, SqliteStoreError } from './server/storage/sqlite'
export type { SessionSqliteDriver, SessionSqliteDriverOptions } from './server/storage/sqlite'
export { RedisSessionStore } from './server/stores/redis'
export type { RedisSessionStoreOptions } from './server/stores/redis'
export { decodeSessionRecord, encodeSessionRecord } from './server/core/store'
export type { SessionIndexEntry, SessionRecord, SessionStore, SessionWrite } from './server/core/store'
export { SessionConfigError, SessionDataError, SessionError, SessionGoneError, SessionLimitError, SessionRecordError, SessionStoreError } from './server/core/errors'
export type { ServerSession, SessionCookieOptions, SessionData, SessionDataT, SessionLogger, SessionOptions } from './types'
