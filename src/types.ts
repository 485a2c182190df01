import type { ModuleCookieOptions, ModulePostgresOptions, ModuleRedisOptions, ModuleSqliteOptions, ServerSession, SessionLifecycleEvent, SessionRuntimeConfig } from './runtime/types'

export type { ModuleCookieOptions, ModulePostgresOptions, ModuleRedisOptions, ModuleSqliteOptions, SessionLifecycleEvent, SessionRuntimeConfig } from './runtime/types'

/**
 * Options of the Nuxt module (`session` key of nuxt.config) and of the standalone Nitro module
 * (`session` key of nitro.config). Every option can also be set at run time through an env var
 * (`NUXT_SESSION_<OPTION>`, nested keys joined by `_`, e.g. `NUXT_SESSION_COOKIE_SAME_SITE`).
 */
export interface ModuleOptions {
  /**
   * Secret(s) that sign the cookie, at least 32 characters each in production. Prefer the env
   * var `NUXT_SESSION_SECRET` (a string, or a JSON array to rotate: the last one signs). In
   * development a throwaway secret is used when none is set.
   */
  secret?: string | string[]
  /**
   * Cookie name. Empty: `sid`, or `__Host-sid` when the cookie is Secure with Path=/ and no Domain.
   * @default ''
   */
  name?: string
  /** Cookie attributes. */
  cookie?: ModuleCookieOptions
  /**
   * Idle timeout, in seconds.
   * @default 86400
   */
  ttl?: number
  /**
   * Absolute lifetime, in seconds.
   * @default 604800
   */
  maxLifetime?: number
  /**
   * An unchanged session's idle timeout is extended at most once per this many seconds.
   * `null`: a tenth of `ttl`.
   * @default null
   */
  touchInterval?: number | null
  /**
   * Re-send the cookie when the idle timeout is extended, with a Max-Age that follows it.
   * @default false
   */
  rolling?: boolean
  /**
   * Store and send the cookie of sessions that were never changed.
   * @default false
   */
  saveUninitialized?: boolean
  /**
   * Largest serialised session data, in bytes.
   * @default 65536
   */
  maxSize?: number
  /**
   * Longest a store operation may take, in milliseconds, before the request gets a 503.
   * @default 5000
   */
  storeTimeout?: number
  /**
   * Name of the Nitro storage mount that holds the sessions. Configure the mount under
   * `nitro.storage` to use Redis, Cloudflare KV or any unstorage driver; without one, the module
   * mounts an SQLite database under `.data/session` on server presets.
   * @default 'session'
   */
  storage?: string
  /**
   * How often, in seconds, expired records are swept from a mount whose driver does not expire
   * keys (the SQLite default, fs, memory). `0` turns the sweep off.
   * @default 3600
   */
  sweepInterval?: number
  /**
   * Keep sessions in Redis with `RedisSessionStore` (atomic per-key writes, one round trip per
   * operation) instead of the storage mount. Read when the server starts: set the address by env
   * var (`NUXT_SESSION_REDIS_URL`, `NUXT_SESSION_REDIS_CLUSTER`, `NUXT_SESSION_REDIS_SENTINELS`).
   */
  redis?: ModuleRedisOptions
  /**
   * Keep sessions in PostgreSQL with `PostgresSessionStore` (one statement per read and per
   * write, the data in a `jsonb` column) instead of the storage mount. Read when the server
   * starts: set the address by env var (`NUXT_SESSION_POSTGRES_URL`).
   */
  postgres?: ModulePostgresOptions
  /** Where the default SQLite database lives (`NUXT_SESSION_SQLITE_PATH`, read at start). */
  sqlite?: ModuleSqliteOptions
  /**
   * What a signed-in session's entry in "your devices" remembers about the device.
   * @default { userAgent: false, ip: false }
   */
  devices?: { userAgent?: boolean, ip?: boolean }
  /**
   * Most sessions one user may have at once (`signInServerSession`); 0 for no cap.
   * @default 0
   */
  maxSessionsPerUser?: number
  /**
   * A sign-in over the cap ends the user's oldest other sessions, or fails with a 409.
   * @default 'evict-oldest'
   */
  sessionLimit?: 'evict-oldest' | 'refuse'
  /** The session in Nuxt pages (`useSessionState()`, `<SessionState>`). */
  pages?: {
    /**
     * Top-level data keys that pages may see, rendered into the page for `useSessionState()`.
     * Nothing else of the session leaves the server (never its id); a `session:public` Nitro
     * hook can add derived values.
     * @default []
     */
    expose?: string[]
    /**
     * The route the module registers for pages: GET gives the public state, DELETE signs out
     * (refused from another site).
     * @default '/api/_session'
     */
    route?: string
    /** The login page, where the `signed-in` page guard sends visitors (with `?redirect=`). @default '/login' */
    login?: string
    /** Where the `guest` guard (for the login page) sends signed-in visitors without a `redirect`. @default '/' */
    home?: string
  }
}

/** Private runtime config added by the module. */
export interface ModuleRuntimeConfig {
  session: SessionRuntimeConfig
}

/**
 * The lifecycle of sessions as Nitro runtime hooks, in a server plugin:
 * `nitroApp.hooks.hook('session:regenerated', (event) => { if (event.reason === 'sign-in') ... })`.
 * Never awaited by the request: a slow hook does not hold the response; a failing one is logged.
 */
export interface SessionRuntimeHooks {
  'session:created': (event: SessionLifecycleEvent) => void | Promise<void>
  'session:regenerated': (event: SessionLifecycleEvent) => void | Promise<void>
  'session:destroyed': (event: SessionLifecycleEvent) => void | Promise<void>
  'session:revoked': (event: SessionLifecycleEvent) => void | Promise<void>
  'session:expired': (event: SessionLifecycleEvent) => void | Promise<void>
  /** What pages may see (`useSessionState()`): add or change entries of `state.data` (JSON only). */
  'session:public': (state: { loggedIn: boolean, data: Record<string, unknown> }, context: { session: ServerSession, event: unknown }) => void | Promise<void>
}
