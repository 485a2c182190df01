import type { SessionStore } from './server/core/store'

// Brings the package root into every TypeScript program that uses these types, plain h3 apps
// included: TypeScript applies `declare module 'nuxt-server-session'` only to a module that is
// already in the program, and an augmentation alone does not load one. Type-only: no JS import.
export type {} from 'nuxt-server-session'

/**
 * The shape of the data kept in a session. Empty by default; augment it in your app:
 *
 * @example
 * ```ts
 * declare module 'nuxt-server-session' {
 *   interface SessionData {
 *     userId?: string
 *     visits?: number
 *   }
 * }
 * ```
 * Values must be JSON: a `Date` comes back as its ISO string, `undefined` values are dropped.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface SessionData extends SessionDataT {}

/**
 * The name `@analog-tools/session` used for {@link SessionData}. Augmenting either one types
 * `data`, `set()` and `update()`; new code should prefer `SessionData`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface SessionDataT {}

/**
 * A server-side session, as returned by `useServerSession(event)` and found on
 * `event.context.sessionHandler` after `useSession(event, options)`.
 */
export interface ServerSession<T = SessionData> {
  /**
   * The session id. It is the secret that the cookie carries: never log it or send it to
   * anyone but its owner. It changes on `regenerate()` and `destroy()`.
   */
  readonly id: string
  /** The session data, read-only: change it with `set()` or `update()`. */
  readonly data: Readonly<T>
  /** `true` when the request brought no valid stored session and this one was started for it. */
  readonly isNew: boolean
  /** The user this session was signed in for with `signInServerSession` / `signInSession`, if any. */
  readonly userId: string | undefined
  /** When the session was started, in milliseconds since the epoch. */
  readonly createdAt: number
  /**
   * When the session ends if nothing happens before: the earlier of the idle timeout (from the
   * last activity) and the absolute lifetime (from `createdAt`). Milliseconds since the epoch.
   */
  readonly expiresAt: number
  /** Replaces the data. Takes effect at once; it is saved with `save()` or at the end of the request. */
  set: (data: T) => void
  /**
   * Changes the data at once, without `await`: a function receives the data and returns the new
   * data; an object is merged into the data shallowly (keys set to `undefined` are removed).
   */
  update: (change: ((data: Readonly<T>) => T) | Partial<T>) => void
  /**
   * Persists the session now and sets the cookie. Changes are also saved automatically before
   * the response is sent (unless `autoSave: false`), so calling it is only needed to know that
   * the write succeeded before going on.
   * @throws {SessionStoreError} the store failed or timed out (HTTP 503).
   * @throws {SessionGoneError} the session was destroyed or expired meanwhile (HTTP 409).
   * @throws {SessionDataError} the data is not JSON or is larger than `maxSize`.
   */
  save: () => Promise<void>
  /** Deletes the stored session and expires the cookie; the object then holds a fresh, empty session. */
  destroy: () => Promise<void>
  /**
   * Moves the session to a new id, keeping its data, and deletes the old record. Call it whenever
   * privileges change (sign-in, sign-out, role change) to defeat session fixation.
   */
  regenerate: () => Promise<void>
  /** Re-reads the session from the store, dropping unsaved changes. */
  reload: () => Promise<void>
  /** Extends the idle timeout now, without changing the data. */
  touch: () => Promise<void>
}

/** Attributes of the session cookie. The value is always `<id>.<signature>`. */
export interface SessionCookieOptions {
  /**
   * `Path` attribute.
   * @default '/'
   */
  path?: string
  /**
   * `Domain` attribute. Leave it unset unless subdomains must share the session; it cannot be
   * combined with a `__Host-` name.
   */
  domain?: string
  /**
   * `HttpOnly` attribute: scripts in the page cannot read the cookie.
   * @default true
   */
  httpOnly?: boolean
  /**
   * `Secure` attribute: the cookie only travels over HTTPS (browsers also accept it on
   * http://localhost).
   * @default true in production (`NODE_ENV=production`), false otherwise
   */
  secure?: boolean
  /**
   * `SameSite` attribute. `'none'` requires `secure: true`.
   * @default 'lax'
   */
  sameSite?: 'lax' | 'strict' | 'none'
  /**
   * `Partitioned` attribute (CHIPS), for sessions inside third-party iframes. Requires `secure`.
   * @default false
   */
  partitioned?: boolean
  /**
   * `Max-Age` of the cookie, in seconds. It is never longer than what is left of the session's
   * absolute lifetime. Without it, the cookie lives as long as the absolute lifetime, or, with
   * `rolling`, as long as the idle timeout.
   */
  maxAge?: number
}

/**
 * Where the library reports what it notices. Messages never contain secrets, raw session ids
 * or session data; sessions are named by a short hash.
 */
export interface SessionLogger {
  warn: (message: string, ...details: unknown[]) => void
  error: (message: string, ...details: unknown[]) => void
  /**
   * Optional: session lifecycle events (created, regenerated, destroyed, rejected cookie,
   * expired), for an audit trail. Each names the session by `ref`, a short hash of its store
   * key. The default logger leaves it out.
   */
  info?: (message: string, ...details: unknown[]) => void
}

/**
 * What happened to a session, for audit logs and "new sign-in" alerts. Never the session id:
 * `ref` is the first 8 hex digits of the SHA-256 of the id (the store key), as in the logs.
 */
export interface SessionLifecycleEvent {
  type: 'created' | 'regenerated' | 'destroyed' | 'revoked' | 'expired'
  /** The session, by a short hash of its store key. */
  ref: string
  /** `regenerated`: the session's ref before the new id. */
  from?: string
  /** The signed-in user, if any (for `regenerated` by a sign-in: the user signed in). */
  userId?: string
  /**
   * Why: `created`: 'first write'; `regenerated`: 'sign-in' or 'regenerate()'; `destroyed`:
   * 'destroy()'; `revoked`: 'revoked' (revokeSession(s)) or 'maxSessionsPerUser' (a newer sign-in
   * took its place); `expired`: 'idle timeout' or 'absolute lifetime' (found by a read), or
   * 'sweep' (deleted by the scheduled sweep).
   */
  reason: string
  /** When, ms since the epoch. */
  at: number
}

/** Options of `useSession(event, options)` (and, through the modules, of `useServerSession`). */
export interface SessionOptions {
  /** Where sessions are kept: an {@link UnstorageSessionStore}, a Redis store, or your own. */
  store: SessionStore
  /**
   * Secret(s) that sign the cookie. With an array the LAST one signs and every one verifies, so
   * rotation is: append the new secret, deploy, later drop the old one. Cookies signed by an older
   * secret are re-signed with the newest on their next response.
   * In production each secret must be at least 32 characters.
   */
  secret: string | readonly string[]
  /**
   * Cookie name. When unset, `sid`, or `__Host-sid` where the cookie is Secure with Path=/ and
   * no Domain.
   * @default 'sid'
   */
  name?: string
  /** Cookie attributes. */
  cookie?: SessionCookieOptions
  /**
   * Save sessions that were created and never changed (and send their cookie). Leave it off so
   * that anonymous visitors cost no store writes.
   * @default false
   */
  saveUninitialized?: boolean
  /**
   * Idle timeout, in seconds: a session unused for this long ends. Enforced from timestamps kept
   * in the store, never from the cookie.
   * @default the store's `ttl`, else 86400 (one day)
   */
  ttl?: number
  /**
   * Absolute lifetime, in seconds: a session ends this long after it started, however active.
   * @default 604800 (seven days)
   */
  maxLifetime?: number
  /**
   * Re-send the cookie whenever the idle timeout is extended, with a `Max-Age` that follows the
   * idle timeout, so that the browser forgets an idle session too. Never extends `maxLifetime`.
   * @default false
   */
  rolling?: boolean
  /**
   * The idle timeout of an unchanged session is extended at most once per this many seconds
   * (one store write), not on every request.
   * @default ttl / 10
   */
  touchInterval?: number
  /**
   * Save changes automatically before the response is sent: after a returned value, a redirect
   * or a thrown 4xx error; never after a 5xx. `save()` works either way.
   * @default true
   */
  autoSave?: boolean
  /**
   * Largest serialised data, in bytes; a bigger save fails with a `SessionDataError`.
   * @default 65536
   */
  maxSize?: number
  /**
   * Longest a store operation may take, in milliseconds, before it fails with a
   * `SessionStoreError` (HTTP 503).
   * @default 5000
   */
  storeTimeout?: number
  /** Where warnings go. @default console, tagged `[nuxt-server-session]` */
  logger?: SessionLogger
  /**
   * Called when a session is created, regenerated (sign-in), destroyed (sign-out), revoked or
   * found expired. Called after the change is stored and never awaited: a slow hook does not
   * hold the response, and one that throws or rejects is logged (`logger.error`) and changes
   * nothing. In the modules, these are the Nitro runtime hooks `session:created`, ...
   */
  onLifecycle?: (event: SessionLifecycleEvent) => void | Promise<void>
  /**
   * Mark the response of a request that changed the session (its data, its user, created or
   * ended) with `x-session-changed: 1`, for pages that follow the session (the Nuxt module turns
   * it on for `useSessionState()`). Nothing of the session is in it.
   * @default false
   */
  changedHeader?: boolean
  /**
   * The clock, in milliseconds since the epoch. Only for tests.
   * @default Date.now
   */
  now?: () => number
  /**
   * What a signed-in session's entry in "your devices" may remember about the device. Off by
   * default: the list then shows only times.
   * @default { userAgent: false, ip: false }
   */
  devices?: { userAgent?: boolean, ip?: boolean }
  /**
   * Most sessions one user may have at once (`signInSession`); 0 for no cap.
   * @default 0
   */
  maxSessionsPerUser?: number
  /**
   * What a sign-in over `maxSessionsPerUser` does: end the user's oldest other sessions, or fail
   * with a `SessionLimitError` (409).
   * @default 'evict-oldest'
   */
  sessionLimit?: 'evict-oldest' | 'refuse'
}

/** Cookie attributes of the modules; the same as the core's, with `secure: 'auto'`. */
export interface ModuleCookieOptions {
  /** @default '/' */
  path?: string
  /** Empty for none. @default '' */
  domain?: string
  /** @default true */
  httpOnly?: boolean
  /**
   * `'auto'`: Secure in production, not in development.
   * @default 'auto'
   */
  secure?: boolean | 'auto'
  /** @default 'lax' */
  sameSite?: 'lax' | 'strict' | 'none'
  /** @default false */
  partitioned?: boolean
  /**
   * Cookie Max-Age in seconds; `0` follows the session (absolute lifetime, or `ttl` with `rolling`).
   * @default 0
   */
  maxAge?: number
}

/**
 * `runtimeConfig.session` of the Nuxt and Nitro modules: the options as the server reads them at run time, every key present
 * so that its env var can override it.
 */
export interface SessionRuntimeConfig {
  secret: string | string[]
  name: string
  cookie: Required<ModuleCookieOptions>
  ttl: number
  maxLifetime: number
  touchInterval: number | null
  rolling: boolean
  saveUninitialized: boolean
  maxSize: number
  storeTimeout: number
  storage: string
  sweepInterval: number
  /** A Redis store instead of the storage mount, when any address is set. */
  redis: Required<ModuleRedisOptions>
  /** A PostgreSQL store instead of the storage mount, when `url` is set. */
  postgres: Required<ModulePostgresOptions>
  /** The default SQLite database; `path` empty: `.data/session/sessions.sqlite`. */
  sqlite: Required<ModuleSqliteOptions>
  devices: { userAgent: boolean, ip: boolean }
  maxSessionsPerUser: number
  sessionLimit: 'evict-oldest' | 'refuse'
  /** What Nuxt pages may see: the top-level data keys (the route is public config); `changedHeader` for them (Nuxt). */
  pages: { expose: string[], changedHeader?: boolean }
}

/** `runtimeConfig.public.serverSession` of the Nuxt module: where pages load and clear their state. */
export interface SessionPublicRuntimeConfig {
  route: string
  /** Where the `signed-in` page guard sends visitors who are not signed in. */
  login: string
  /** Where the `guest` guard sends signed-in visitors without a `redirect`. */
  home: string
}

/** The embedded default store (an SQLite database), where the app configured no mount of its own. */
export interface ModuleSqliteOptions {
  /**
   * The database file, read when the server starts (`NUXT_SESSION_SQLITE_PATH`), for a container
   * volume say. Its folder must exist. Empty: `.data/session/sessions.sqlite` under the server's
   * working directory (its folder created, readable by the owner only).
   * @default ''
   */
  path?: string
}

/**
 * PostgreSQL for sessions (`PostgresSessionStore`), chosen when the server starts: set `url`, in
 * config or by env var (`NUXT_SESSION_POSTGRES_URL`), and sessions go to that database instead
 * of the storage mount. Needs `pg` installed. Every key has its env var:
 * `NUXT_SESSION_POSTGRES_SCHEMA`, `..._TABLE`, `..._POOL_SIZE`, `..._TLS`, `..._CREATE_TABLE`, `..._PREPARE`.
 */
export interface ModulePostgresOptions {
  /** `postgres://user:password@host:5432/database` (`?sslmode=require` works too). @default '' */
  url?: string
  /** The table's schema (it must exist). @default 'public' */
  schema?: string
  /** The table. @default 'nss_sessions' */
  table?: string
  /** Connections per server process. @default 10 */
  poolSize?: number
  /** TLS: `true` verifies the server's certificate, `'no-verify'` only encrypts. @default false */
  tls?: boolean | 'no-verify' | 'true' | 'false'
  /** Create the table on first use when it is missing (off: run the README's SQL in a migration). @default true */
  createTable?: boolean | 'true' | 'false'
  /** Named prepared statements; off behind a PgBouncer older than 1.21 in transaction mode. @default true */
  prepare?: boolean | 'true' | 'false'
}

/**
 * Redis for sessions (`RedisSessionStore`), chosen when the server starts: set any address, in
 * config or by env var (`NUXT_SESSION_REDIS_URL`, ...), and sessions go to Redis instead of the
 * storage mount. Needs `ioredis` installed.
 */
export interface ModuleRedisOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://` for TLS. @default '' */
  url?: string
  /** Redis Cluster nodes, `host:port,host:port`; wins over `url`. @default '' */
  cluster?: string
  /** Sentinel nodes, `host:port,host:port`; wins over `url`. @default '' */
  sentinels?: string
  /** Name of the master the sentinels watch. @default 'mymaster' */
  sentinelName?: string
  /** Password for cluster and sentinel nodes (a URL carries its own). @default '' */
  password?: string
  /** TLS for cluster and sentinel nodes (use `rediss://` for a URL). @default false */
  tls?: boolean
  /** Key prefix. @default 'sess' */
  prefix?: string
}

declare module 'h3' {
  interface H3EventContext {
    /**
     * The session mounted by `useSession(event, options)` (nuxt-server-session). Only set once
     * that call has resolved.
     */
    sessionHandler: ServerSession
  }
}
