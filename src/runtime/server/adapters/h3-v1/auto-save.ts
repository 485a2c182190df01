import type { ServerResponse } from 'node:http'
import type { AutoSaveTarget, SessionEvent } from '../../core/host'
import { isSessionError, SessionStoreError } from '../../core/errors'

type Res = ServerResponse
/** An h3 1 event: Node's response, and h3's "answered" flag. */
type H3Event = SessionEvent & { node: { res: Res }, handled?: boolean, _handled?: boolean }
type SessionState = AutoSaveTarget
/** The three methods held back, typed loosely: Node's overloads are passed through untouched. */
type Method = (this: Res, ...args: unknown[]) => unknown
type HeldRes = Res & { [SAVER]?: AutoSave }

/** The response's saver; a global symbol, so that two copies of this module share one. */
const SAVER = Symbol.for('nuxt-server-session:auto-save')

/**
 * Resolves once a response held for the automatic save has been released. In-process callers
 * that read the response as soon as the handler returns (Nitro's local fetch, used for SSR
 * `$fetch` and on Workers) must wait for it; a real socket needs nothing.
 */
export function responseSettled(event: SessionEvent): Promise<void> | undefined {
  return ((event as Partial<H3Event>).node?.res as HeldRes | undefined)?.[SAVER]?.settled()
}

/**
 * Saves the session before the response leaves, whatever sends it: a returned value, a
 * redirect, a thrown error, `sendNoContent` or a stream. Hooks such as h3's `onBeforeResponse`
 * miss redirects and errors, so this wraps the response itself (as express-session does):
 * `writeHead`, `write` and `end` are held until the save has finished, then replayed. The next
 * request therefore always sees the change. A held `write` answers false and 'drain' follows
 * the release, so that a piped stream waits meanwhile rather than piling up in memory. Nothing
 * is saved after a 5xx; a failed save turns the response into the error's status (503 for a
 * store outage) while headers are still unsent, so a client is never told "done" about a change
 * that was lost. A response of a session with nothing to save, whole or streamed, goes at once.
 */
export function installAutoSave(event: SessionEvent, state: SessionState): void {
  const res = (event as Partial<H3Event>).node?.res as HeldRes | undefined
  if (!res || typeof res.end !== 'function' || res[SAVER]) return
  res[SAVER] = new AutoSave(event as H3Event, res, state)
  // Shared functions rather than closures per request: each finds its saver on the response.
  res.writeHead = heldWriteHead as Res['writeHead']
  res.write = heldWrite as Res['write']
  res.end = heldEnd as Res['end']
}

function heldWriteHead(this: HeldRes, ...args: unknown[]): unknown {
  const saver = this[SAVER]!
  if (saver.phase === 'done') return saver.writeHead.apply(this, args)
  // Keep status and headers on the response; Node sends them with the first write or end.
  _applyWriteHead(this, args)
  return this
}

function heldWrite(this: HeldRes, ...args: unknown[]): unknown {
  const saver = this[SAVER]!
  if (saver.phase === 'done') return saver.write.apply(this, args)
  if (saver.phase === 'open' && saver.idle()) {
    // A stream, and nothing to save or send: it goes now, with Node's own backpressure.
    saver.phase = 'done'
    return saver.write.apply(this, args)
  }
  // Backpressure: a writer that heeds it (stream.pipe, pipeline) pauses until 'drain', which
  // comes once the save has finished and the held writes have gone out, instead of pouring a
  // whole stream into memory for as long as the save takes.
  saver.hold('write', args)
  return false
}

function heldEnd(this: HeldRes, ...args: unknown[]): unknown {
  const saver = this[SAVER]!
  if (saver.phase === 'done') return saver.end.apply(this, args)
  // h3 decides "already answered" from writableEnded, which stays false while we hold the end.
  saver.event._handled = true
  saver.hold('end', args)
  return this
}

/** The held calls of one response, and the save they wait for. */
class AutoSave {
  // Declared and set in the constructor: see SessionState for why.
  declare readonly event: H3Event
  declare readonly res: Res
  declare readonly state: SessionState
  declare readonly writeHead: Method
  declare readonly write: Method
  declare readonly end: Method
  declare phase: 'open' | 'saving' | 'done'
  /** write/end calls held, in order: method and arguments. */
  declare private held: ['write' | 'end', unknown[]][]
  declare private released: Promise<void> | undefined
  declare private release: (() => void) | undefined

  constructor(event: H3Event, res: Res, state: SessionState) {
    this.event = event
    this.res = res
    this.state = state
    this.writeHead = res.writeHead as unknown as Method
    this.write = res.write as unknown as Method
    this.end = res.end as unknown as Method
    this.phase = 'open'
    this.held = []
    this.released = undefined
    this.release = undefined
  }

  /** While saving, a promise of the release; the save starts now for a response handed over without end(). */
  settled(): Promise<void> | undefined {
    // A response handed over without write() or end(), as h3's sendStream does on Nitro's
    // in-process responses: save now, before the caller reads the headers.
    if (this.phase === 'open' && this.event.handled) this.hold()
    if (this.phase !== 'saving') return undefined
    this.released ??= new Promise<void>((resolve) => {
      this.release = resolve
    })
    return this.released
  }

  /** Whether nothing has been held yet and there is nothing to save or send (a read, an unchanged session). */
  idle(): boolean {
    return this.held.length === 0 && this.res.statusCode < 500 && this.state.idle()
  }

  hold(method?: 'write' | 'end', args?: unknown[]): void {
    if (this.phase !== 'open') {
      if (method) this.held.push([method, args!])
      return
    }
    const { res, state } = this
    if (method === 'end' && this.idle()) {
      // A whole response, and nothing to save or send: it goes now.
      this.phase = 'done'
      this.end.apply(res, args!)
      return
    }
    if (method) this.held.push([method, args!])
    this.phase = 'saving'
    if (res.statusCode >= 500) {
      state.close()
      return queueMicrotask(() => this.settle())
    }
    state.flush().then(() => this.settle(), error => this.settle(error ?? new Error('Session save failed')))
  }

  private settle(error?: unknown): void {
    const { res } = this
    this.phase = 'done'
    try {
      if (error !== undefined && !res.headersSent) return _sendError(res, this.end, this.state, error)
      if (error !== undefined) _log(this.state, error)
      let wrote = false
      let full = false
      for (const [method, args] of this.held) {
        if (method === 'end') {
          this.end.apply(res, args)
        }
        else {
          wrote = true
          if (this.write.apply(res, args) === false) full = true
        }
      }
      this.held.length = 0
      // The held writes answered false: their writer waits for 'drain'. Node emits it itself once
      // its own buffer empties if a replayed write filled it (writableNeedDrain); otherwise it
      // is due now, once, unless the response has ended.
      if (wrote && !res.writableEnded && !res.destroyed && !((res.writableNeedDrain as boolean | undefined) ?? full)) res.emit('drain')
    }
    finally {
      this.release?.()
    }
  }
}

/**
 * What Node's `writeHead(status, [statusMessage], [headers])` does to the response, short of
 * sending: the headers stay on the response, where the save can still add its cookie, and go
 * with the first write or end. Node's own rules, checked against Node 24: a flat array
 * `[name, value, ...]` replaces the headers of those names set earlier but keeps its own
 * repeats (every name is removed, then every pair appended); an array of `[name, value]` pairs
 * is accepted while no header has been set (Node writes it straight out) and refused otherwise;
 * an object sets each key. Invalid input throws here, where Node would, rather than when the
 * held response is replayed.
 */
function _applyWriteHead(res: Res, args: unknown[]): void {
  const [status, reason] = args
  const code = (status as number) | 0
  if (code < 100 || code > 999) throw _nodeError(RangeError, 'ERR_HTTP_INVALID_STATUS_CODE', `Invalid status code: ${String(status)}`)
  let headers = args[2]
  if (typeof reason === 'string') {
    if (INVALID_STATUS_CHAR_RE.test(reason)) throw _nodeError(TypeError, 'ERR_INVALID_CHAR', 'Invalid character in statusMessage')
    res.statusMessage = reason
  }
  else {
    headers ??= reason
  }
  res.statusCode = code
  if (Array.isArray(headers)) {
    const pairs = headers.length > 0 && Array.isArray(headers[0]) && res.getHeaderNames().length === 0
    if (!pairs && headers.length % 2 !== 0) throw _nodeError(TypeError, 'ERR_INVALID_ARG_VALUE', 'The argument \'headers\' is invalid.')
    const step = pairs ? 1 : 2
    for (let i = 0; i < headers.length; i += step) res.removeHeader(pairs ? headers[i][0] : headers[i])
    for (let i = 0; i < headers.length; i += step) {
      const name = pairs ? headers[i][0] : headers[i]
      if (name) res.appendHeader(name, pairs ? headers[i][1] : headers[i + 1])
    }
  }
  else if (headers && typeof headers === 'object') {
    for (const name of Object.keys(headers)) {
      if (name) res.setHeader(name, (headers as Record<string, string | number | readonly string[]>)[name]!)
    }
  }
}

/** Characters Node refuses in a status message. */
const INVALID_STATUS_CHAR_RE = /[^\t\x20-\x7E\x80-\xFF]/

/** An error shaped like Node's own for the same input: its class, code and message. */
function _nodeError(Type: ErrorConstructor | RangeErrorConstructor | TypeErrorConstructor, code: string, message: string): Error {
  return Object.assign(new Type(message), { code })
}

function _sendError(res: Res, end: Method, state: SessionState, error: unknown): void {
  _log(state, error)
  const status = isSessionError(error) ? error.statusCode : 500
  const message = isSessionError(error) ? error.message : 'Session could not be saved'
  for (const name of res.getHeaderNames()) {
    if (name !== 'set-cookie' && name !== 'vary') res.removeHeader(name)
  }
  res.statusCode = status
  res.statusMessage = message
  res.setHeader('content-type', 'application/json')
  res.setHeader('cache-control', 'private, no-store')
  end.call(res, JSON.stringify({ statusCode: status, statusMessage: message, message }))
}

function _log(state: SessionState, error: unknown): void {
  // Store failures were reported where they happened.
  if (error instanceof SessionStoreError || (error as { code?: string } | undefined)?.code === SessionStoreError.code) return
  const code = (error as { code?: string })?.code ?? 'ERR_SESSION'
  const cause = (error as { cause?: { message?: string } })?.cause?.message
  state.config.logger.error(`Session not saved (${code})${cause ? `: ${cause}` : ''}`)
}
