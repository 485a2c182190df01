import type { ServerSession, SessionData, SessionOptions } from '../../types'
import type { SessionEvent, SessionHost } from '../core/host'
import { mountSession } from '../core/session'
import { h3v1Host } from './h3-v1/host'
import { h3v2Host, isH3v2Event } from './h3-v2/host'

/** The adapter for `event`'s generation: h3 2 events carry a web `Request`, h3 1 events Node's. */
export function hostOf(event: SessionEvent): SessionHost {
  return isH3v2Event(event) ? h3v2Host : h3v1Host
}

/**
 * Mounts the session on `event` and loads it: reads and verifies the cookie, then one store
 * read. Afterwards `event.context.sessionHandler` is the session. Calls in the same request
 * share one load, and later calls may omit the options. Works on h3 1 and h3 2 events alike.
 *
 * @throws {SessionStoreError} the store failed or timed out (HTTP 503): the session is
 * unknown, and no empty session is made in its place.
 * @throws {SessionConfigError} the options are invalid.
 */
export function useSession<T = SessionData>(event: SessionEvent, options?: SessionOptions): Promise<ServerSession<T>> {
  return mountSession<T>(hostOf(event), event, options)
}
