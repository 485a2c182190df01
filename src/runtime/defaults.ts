/**
 * The one place where defaults live. The Nuxt and Nitro modules and the h3 core all read them
 * from here, so the README's options table has a single source.
 */
export const DEFAULTS = {
  /** Cookie name; `__Host-` is prepended when the cookie is Secure, has Path=/ and no Domain. */
  name: 'sid',
  /** Idle timeout, in seconds: one day. */
  ttl: 60 * 60 * 24,
  /** Absolute lifetime, in seconds: seven days. */
  maxLifetime: 60 * 60 * 24 * 7,
  /** Largest serialised session data, in bytes: 64 KiB. */
  maxSize: 64 * 1024,
  /** How long one store operation may take before the request fails with a 503, in ms. */
  storeTimeout: 5000,
  /** Key prefix used by the stores. */
  prefix: 'sess',
  /** How often an unstorage store without native expiry sweeps expired records, in seconds. */
  sweepInterval: 60 * 60,
  /** Smallest secret length accepted in production, in characters. */
  minSecretLength: 32,
  /** Nitro storage mount that holds the sessions (Nuxt and Nitro modules). */
  storage: 'session',
  /** The embedded default store's SQLite database, relative to the server's working directory. */
  sqliteFile: '.data/session/sessions.sqlite',
} as const
