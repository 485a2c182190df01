import type { IncomingMessage, ServerResponse } from 'node:http'
import { variesOnCookie } from '../../core/cookie'
import type { Context, SessionEvent, SessionHost } from '../../core/host'
import { installAutoSave } from './auto-save'

/** What h3 1 events (and Nitro 2's) carry: Node's request and response. */
interface V1Event extends SessionEvent {
  node: { req: IncomingMessage & { __unenv__?: unknown }, res: ServerResponse }
}

/**
 * h3 1 / Nitro 2 / Nuxt 4: the request and response are Node's (real, or node-mock-http's in
 * Nitro's local fetch). The automatic save holds the response itself (./auto-save).
 */
export const h3v1Host: SessionHost = {
  name: 'h3 1',
  cookieHeader: event => (event as V1Event).node.req.headers.cookie,
  requestHeader: (event, name) => {
    const value = (event as V1Event).node.req.headers[name]
    return Array.isArray(value) ? value[0] : value
  },
  remoteAddress: event => (event as V1Event).node.req.socket?.remoteAddress,
  canWriteHeaders: event => !(event as V1Event).node.res.headersSent,
  writeCookie: (event, name, setCookie) => {
    const res = (event as V1Event).node.res
    const prefix = `${name}=`
    const current = res.getHeader('set-cookie')
    if (current === undefined) {
      res.setHeader('set-cookie', setCookie)
    }
    else {
      const list = (Array.isArray(current) ? current : [String(current)]).filter(value => !value.startsWith(prefix))
      list.push(setCookie)
      res.setHeader('set-cookie', list)
    }
    _markPrivate(res)
  },
  markPrivate: (event, varyOnly) => {
    const { res } = (event as V1Event).node
    if (!res.headersSent) _markPrivate(res, varyOnly)
  },
  writeHeader: (event, name, value) => {
    const { res } = (event as V1Event).node
    if (!res.headersSent) res.setHeader(name, value)
  },
  // h3's `fetchWithEvent` hands the caller's `event.context` down, and node-mock-http keeps it on
  // the request as `__unenv__`.
  parentContext: (event) => {
    const parent = (event as V1Event).node.req.__unenv__
    return parent && typeof parent === 'object' && parent !== event.context ? parent as Context : undefined
  },
  // Nitro 2 runs a cached handler on a copy of the event, with a context marked `cache` (and
  // leaves the mark there); an internal request made meanwhile belongs to that response too.
  inCachedHandler: event => _cachedContext(event.context) || _cachedContext(h3v1Host.parentContext(event)),
  installAutoSave,
}

function _markPrivate(res: ServerResponse, varyOnly = false): void {
  if (!varyOnly) res.setHeader('cache-control', 'private, no-store')
  const vary = res.getHeader('vary')
  if (!variesOnCookie(Array.isArray(vary) ? vary.join(',') : vary === undefined ? undefined : String(vary))) res.appendHeader('vary', 'Cookie')
}

function _cachedContext(context: unknown): boolean {
  return typeof (context as { cache?: { options?: unknown } } | undefined)?.cache?.options === 'object'
}

/** Whether `event` is an h3 1 event: Node's response on `event.node`, and no web request (h3 2 has both). */
export function isH3v1Event(event: object): boolean {
  return !('req' in event && typeof (event as { req?: { headers?: { get?: unknown } } }).req?.headers?.get === 'function')
    && typeof (event as Partial<V1Event>).node?.res?.setHeader === 'function'
}
