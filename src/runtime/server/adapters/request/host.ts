import type { SessionEvent, SessionHost } from '../../core/host'

/** A session read from a bare web request (a WebSocket upgrade): no response to write to. */
export interface RequestEvent extends SessionEvent {
  request: { headers: Headers }
}

/**
 * For a request that has no h3 event, such as a WebSocket upgrade (crossws hands a web
 * `Request`): the session is read from its Cookie header; nothing can be written back (no
 * cookie, no header), so a session created there is never sent, and changes need `save()`.
 */
export const requestHost: SessionHost = {
  name: 'web request',
  cookieHeader: event => (event as RequestEvent).request.headers.get('cookie') ?? undefined,
  requestHeader: (event, name) => (event as RequestEvent).request.headers.get(name) ?? undefined,
  remoteAddress: () => undefined,
  canWriteHeaders: () => false,
  writeCookie: () => {},
  markPrivate: () => {},
  writeHeader: () => {},
  parentContext: () => undefined,
  inCachedHandler: () => false,
}
