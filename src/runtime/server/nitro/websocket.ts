import type { ServerSession, SessionData } from '../../types'
import { requestHost } from '../adapters/request/host'
import type { RequestEvent } from '../adapters/request/host'
import { storeKeyOf } from '../core/crypto'
import { consoleLogger } from '../core/config'
import { isSessionError } from '../core/errors'
import { mountSession, onSessionEnded } from '../core/session'
import { fromThisSite } from '../core/site'
import { sessionOptions } from './utils'

/** What the hooks need of a crossws peer (0.3 in Nitro 2, 0.4 in Nitro 3): its context, request and close. */
export interface SessionPeer {
  readonly context: Record<string, unknown>
  readonly request?: { headers: Headers }
  close: (code?: number, reason?: string) => void
}

/** An upgrade request as crossws hands it: a web `Request` (or url and headers), with the peer's context. */
export interface SessionUpgradeRequest {
  headers: Headers
  context?: Record<string, unknown>
}

/** The WebSocket close code when the socket's session ends (destroyed, revoked, expired, signed in elsewhere). */
export const SESSION_ENDED_CLOSE_CODE = 4001
/** The close code when the session cannot be read (the store is down): try again later (RFC 6455's 1013). */
export const SESSION_UNAVAILABLE_CLOSE_CODE = 1013

export interface SessionWebSocketHooks<T = SessionData> {
  /** Refuse the upgrade with a 401 unless a user is signed in (`signInServerSession`). @default false */
  signedIn?: boolean
  /**
   * Read the session again at least this often, in seconds, also on a socket that receives
   * nothing: a push-only socket then closes within this time after its session ended on another
   * instance. Without it, such a socket closes at its session's deadline (idle or absolute), at
   * its next message, or at once when this instance ends the session.
   * @default 0 (off)
   */
  recheckInterval?: number
  /**
   * Other origins whose pages may open this socket with the visitor's cookie, e.g.
   * `['https://app.example']`. A browser's upgrade from any other site is refused with a 403
   * (cross-site WebSocket hijacking); clients that send no Origin (not browsers) are not concerned.
   * @default [] (this host only)
   */
  origins?: string[]
  /** After the session is read, before the socket opens; throw a `Response` to refuse. */
  upgrade?: (request: SessionUpgradeRequest, session: ServerSession<T>) => unknown
  open?: (peer: SessionPeer, session: ServerSession<T>) => unknown
  /** Each message, with the session read again: a session that ended meanwhile closes the socket instead. */
  message?: (peer: SessionPeer, message: unknown, session: ServerSession<T>) => unknown
  close?: (peer: SessionPeer, details: { code?: number, reason?: string }) => unknown
  error?: (peer: SessionPeer, error: unknown) => unknown
}

/** The peer context's entry for its session (crossws contexts are plain objects). */
const PEER_KEY = 'nuxt-server-session'
/** The peer context's entry for the timer that reads the session again at its deadline. */
const TIMER_KEY = 'nuxt-server-session:timer'
/** The peer context's entry for its messages in flight: each waits for the one before. */
const QUEUE_KEY = 'nuxt-server-session:queue'
/** setTimeout's longest wait. */
const MAX_DELAY = 2 ** 31 - 1
/** This process's open sockets, by their session's store key. */
const sockets = new Map<string, Set<SessionPeer>>()
let listening = false

function _listen(): void {
  if (listening) return
  listening = true
  // A session this process ends closes its sockets here at once; other processes see it at
  // their sockets' next message, which reads the session again.
  onSessionEnded((key) => {
    const peers = sockets.get(key)
    if (!peers) return
    sockets.delete(key)
    for (const peer of peers) peer.close(SESSION_ENDED_CLOSE_CODE, 'Session ended')
  })
}

/** The session a request's Cookie header names (one store read), without writing anything back. */
async function _read<T>(request: { headers: Headers }): Promise<{ session: ServerSession<T>, key: string | undefined }> {
  const event: RequestEvent = { context: {}, request }
  const session = await mountSession<T>(requestHost, event, sessionOptions())
  return { session, key: session.isNew ? undefined : await storeKeyOf(session.id) }
}

/**
 * WebSocket hooks for Nitro's `defineWebSocketHandler` (crossws) with the session: read at the
 * upgrade from the request's cookie (`signedIn: true` refuses it with a 401 without a signed-in
 * user), handed to `open` and, read again, to each `message`. A session that ends closes its
 * sockets with code 4001: at once on this instance; on another instance at the socket's next
 * message (one store read per message), at the session's deadline, or within `recheckInterval`. The session is read-only here: nothing can reach
 * the browser over an open socket.
 *
 * @example
 * ```ts
 * // server/routes/_ws.ts (nitro: { experimental: { websocket: true } })
 * export default defineWebSocketHandler(sessionWebSocket({
 *   signedIn: true,
 *   open(peer, session) { peer.send(`hello ${session.userId}`) },
 *   message(peer, message, session) { peer.send(`${session.userId}: ${message}`) },
 * }))
 * ```
 */
export function sessionWebSocket<T = SessionData>(hooks: SessionWebSocketHooks<T>) {
  _listen()
  const refuse = () => new Response('Sign-in required', { status: 401, headers: { 'content-type': 'text/plain' } })
  const forget = (peer: SessionPeer) => {
    clearTimeout(peer.context[TIMER_KEY] as ReturnType<typeof setTimeout> | undefined)
    peer.context[TIMER_KEY] = undefined
    const key = (peer.context[PEER_KEY] as { key?: string } | undefined)?.key
    const peers = key ? sockets.get(key) : undefined
    peers?.delete(peer)
    if (peers?.size === 0) sockets.delete(key!)
  }
  // The store down or slow: the upgrade is answered (a 503, as an HTTP route would be), and an
  // open socket closes with 1013 (try again later): never a hang, nor a message dropped unseen.
  const unavailable = (error: unknown) => {
    consoleLogger.error(`Session store failed during a WebSocket (${(error as { code?: string })?.code ?? 'error'}): ${(error as Error)?.message ?? error}`)
    const status = isSessionError(error) ? (error as { statusCode: number }).statusCode : 500
    return new Response(status === 503 ? 'Session store unavailable' : 'Session error', { status, headers: { 'content-type': 'text/plain', ...(status === 503 ? { 'retry-after': '1' } : {}) } })
  }
  const readOrClose = async (peer: SessionPeer, request: { headers: Headers }) => {
    try {
      return await _read<T>(request)
    }
    catch (error) {
      unavailable(error)
      await hooks.error?.(peer, error)
      peer.close(SESSION_UNAVAILABLE_CLOSE_CODE, 'Session store unavailable')
      return undefined
    }
  }
  /** The session read again; `undefined`, the socket closed, when it ended or cannot be read. */
  const recheck = async (peer: SessionPeer) => {
    const opened = peer.context[PEER_KEY] as { key?: string } | undefined
    if (!peer.request || !opened) return undefined
    const now = await readOrClose(peer, peer.request)
    if (!now) {
      forget(peer)
      return undefined
    }
    // Ended meanwhile (on any instance): destroyed, revoked, expired, or moved by a sign-in.
    if (opened.key !== now.key || (hooks.signedIn && typeof now.session.userId !== 'string')) {
      forget(peer)
      peer.close(SESSION_ENDED_CLOSE_CODE, 'Session ended')
      return undefined
    }
    return now
  }
  /** Reads the session again at its deadline (or sooner, every `recheckInterval`): a push-only socket ends with it too. */
  const arm = (peer: SessionPeer, session: ServerSession<T>) => {
    clearTimeout(peer.context[TIMER_KEY] as ReturnType<typeof setTimeout> | undefined)
    const every = Number(hooks.recheckInterval) > 0 ? Number(hooks.recheckInterval) * 1000 : Infinity
    const delay = Math.min(MAX_DELAY, every, Math.max(1000, session.expiresAt - Date.now() + 50))
    const timer = setTimeout(() => {
      void recheck(peer).then(now => now && arm(peer, now.session)).catch(() => {})
    }, delay)
    ;(timer as { unref?: () => void }).unref?.()
    peer.context[TIMER_KEY] = timer
  }
  const allowed = new Set((hooks.origins ?? []).map(origin => origin.replace(/\/+$/, '')))
  return {
    async upgrade(request: SessionUpgradeRequest) {
      // Browsers send the cookie with another site's WebSocket too: the page must be this site's.
      if (!fromThisSite(name => request.headers.get(name), allowed)) throw new Response('Cross-site WebSocket refused', { status: 403, headers: { 'content-type': 'text/plain' } })
      let read: Awaited<ReturnType<typeof _read<T>>>
      try {
        read = await _read<T>(request)
      }
      catch (error) {
        throw unavailable(error)
      }
      if (hooks.signedIn && typeof read.session.userId !== 'string') throw refuse()
      if (request.context) request.context[PEER_KEY] = read
      return hooks.upgrade?.(request, read.session) as undefined
    },
    async open(peer: SessionPeer) {
      let read = peer.context[PEER_KEY] as { session: ServerSession<T>, key?: string } | undefined
      // Where the adapter does not carry the upgrade's context over, the session is read again.
      if (!read && peer.request) {
        read = await readOrClose(peer, peer.request)
        if (!read) return
        peer.context[PEER_KEY] = read
      }
      if (!read || (hooks.signedIn && typeof read.session.userId !== 'string')) return peer.close(SESSION_ENDED_CLOSE_CODE, 'Sign-in required')
      if (read.key) {
        let peers = sockets.get(read.key)
        if (!peers) sockets.set(read.key, peers = new Set())
        peers.add(peer)
        arm(peer, read.session)
      }
      await hooks.open?.(peer, read.session)
    },
    message(peer: SessionPeer, message: unknown) {
      // In the order they came: each message's store read waits for the one before.
      const handle = async () => {
        const now = await recheck(peer)
        if (now) await hooks.message?.(peer, message, now.session)
      }
      const queued = ((peer.context[QUEUE_KEY] as Promise<void> | undefined) ?? Promise.resolve()).then(handle, handle)
      peer.context[QUEUE_KEY] = queued
      return queued
    },
    close(peer: SessionPeer, details: { code?: number, reason?: string }) {
      forget(peer)
      return hooks.close?.(peer, details)
    },
    error(peer: SessionPeer, error: unknown) {
      return hooks.error?.(peer, error)
    },
  }
}
