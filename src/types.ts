import type { SessionCookieOptions } from './runtime/types'

/** Options of the Nuxt and Nitro modules, under the `session` key. */
export interface ModuleOptions {
  /**
   * Cookie name.
   * @default 'sid' ('__Host-sid' in production)
   */
  name?: string
  /** Cookie attributes. */
  cookie?: SessionCookieOptions
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
}
