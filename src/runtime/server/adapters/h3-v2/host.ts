import { eventOfContext, variesOnCookie } from '../../core/cookie'
import type { Context, SessionEvent, SessionHost } from '../../core/host'

/** What an h3 2 event (and Nitro 3's) carries: a web `Request`, and the headers of the response to come. */
export interface V2Event extends SessionEvent {
  req: Request & { ip?: string }
  res: { status?: number, headers: Headers, errHeaders?: Headers }
}

/** The request as it came in, kept by the middleware: a cached handler swaps in a cookie-less copy. */
export const ORIGINAL_REQUEST = Symbol.for('nuxt-server-session:request')
/** The context of the request that made this one through the local fetch, found by the middleware. */
export const PARENT = Symbol.for('nuxt-server-session:parent')
/** The Set-Cookie value this request's session sent last, for responses built without the event's headers. */
export const SENT_COOKIE = Symbol.for('nuxt-server-session:sent-cookie')

/**
 * h3 2 / Nitro 3 / Nuxt 5: the request is a web `Request`, and h3 builds the response from what
 * the handler returns, with the headers set on `event.res.headers` (`event.res.errHeaders` for an
 * error's response). Cookies go on both, so whichever response h3 builds carries them; the
 * automatic save is the middleware in ./middleware, around `next()`.
 */
export const h3v2Host: SessionHost = {
  name: 'h3 2',
  cookieHeader: event => (event as V2Event).req.headers.get('cookie') ?? undefined,
  requestHeader: (event, name) => (event as V2Event).req.headers.get(name) ?? undefined,
  remoteAddress: event => (event as V2Event).req.ip,
  // The response is built after the handler, from these headers: they can always change until then.
  canWriteHeaders: () => true,
  writeCookie: (event, name, setCookie) => {
    const { res } = event as V2Event
    _writeCookie(res.headers, name, setCookie)
    if (res.errHeaders) _writeCookie(res.errHeaders, name, setCookie)
    ;(event.context as Context)[SENT_COOKIE] = setCookie
  },
  markPrivate: (event, varyOnly) => {
    const { res } = event as V2Event
    markPrivate(res.headers, varyOnly)
    if (res.errHeaders) markPrivate(res.errHeaders, varyOnly)
  },
  writeHeader: (event, name, value) => {
    const { res } = event as V2Event
    res.headers.set(name, value)
    res.errHeaders?.set(name, value)
  },
  parentContext: event => (event.context as Context)[PARENT] as Context | undefined,
  inCachedHandler: event => _cached(event) || _cached(eventOfContext(h3v2Host.parentContext(event))),
}

function _cached(event: SessionEvent | undefined): boolean {
  const original = (event?.context as Context | undefined)?.[ORIGINAL_REQUEST]
  return original !== undefined && (event as V2Event).req !== original
}

/** Sets our cookie in `headers` in place of an earlier one of ours, and marks the response private. */
function _writeCookie(headers: Headers, name: string, setCookie: string): void {
  const prefix = `${name}=`
  const current = headers.getSetCookie()
  if (current.some(value => value.startsWith(prefix))) {
    headers.delete('set-cookie')
    for (const value of current) {
      if (!value.startsWith(prefix)) headers.append('set-cookie', value)
    }
  }
  headers.append('set-cookie', setCookie)
  markPrivate(headers)
}

/** `Cache-Control: private, no-store` and `Vary: Cookie`: no shared cache keeps or replays a session's response. */
export function markPrivate(headers: Headers, varyOnly = false): void {
  if (!varyOnly) headers.set('cache-control', 'private, no-store')
  if (!variesOnCookie(headers.get('vary'))) headers.append('vary', 'Cookie')
}

/** Whether `event` is an h3 2 event: its request is a web `Request` (h3 1's is Node's). */
export function isH3v2Event(event: object): boolean {
  return typeof (event as Partial<V2Event>).req?.headers?.get === 'function'
}
