import type { H3Event } from 'h3'
import type { SessionState } from './session'
import { SessionError, SessionStoreError } from './errors'

type Res = H3Event['node']['res']
type Call = { method: 'write' | 'end', args: unknown[] }
/** The three methods held back, typed loosely: Node's overloads are passed through untouched. */
type Method = (this: Res, ...args: unknown[]) => unknown

const INSTALLED = Symbol.for('nuxt-server-session:auto-save')
const SETTLED = Symbol.for('nuxt-server-session:settled')

/**
 * Resolves once a response held for the automatic save has been released. In-process callers
 * that read the response as soon as the handler returns (Nitro's local fetch, used for SSR
 * `$fetch` and on Workers) must wait for it; a real socket needs nothing.
 */
export function responseSettled(event: H3Event): Promise<void> | undefined {
  return (event.node?.res as { [SETTLED]?: () => Promise<void> | undefined } | undefined)?.[SETTLED]?.()
}

/**
 * Saves the session before the response leaves, whatever sends it: a returned value, a
 * redirect, a thrown error, `sendNoContent` or a stream. Hooks such as h3's `onBeforeResponse`
 * miss redirects and errors, so this wraps the response itself (as express-session does):
 * `writeHead`, `write` and `end` are held until the save has finished, then replayed. The next
 * request therefore always sees the change. Nothing is saved after a 5xx; a failed save turns
 * the response into the error's status (503 for a store outage) while headers are still unsent,
 * so a client is never told "done" about a change that was lost.
 */
export function installAutoSave(event: H3Event, state: SessionState): void {
  const res = event.node?.res as (Res & { [INSTALLED]?: true }) | undefined
  if (!res || typeof res.end !== 'function' || res[INSTALLED]) return
  res[INSTALLED] = true
  const { writeHead, write, end } = res as unknown as Record<'writeHead' | 'write' | 'end', Method>
  const held: Call[] = []
  let phase: 'open' | 'saving' | 'done' = 'open'
  let release!: () => void
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  ;(res as unknown as { [SETTLED]: () => Promise<void> | undefined })[SETTLED] = () => {
    // A response handed over without write() or end(), as h3's sendStream does on Nitro's
    // in-process responses: save now, before the caller reads the headers.
    if (phase === 'open' && event.handled) hold()
    return phase === 'saving' ? released : undefined
  }

  const settle = (error?: unknown) => {
    phase = 'done'
    try {
      if (error !== undefined && !res.headersSent) return _sendError(res, end, state, error)
      if (error !== undefined) _log(state, error)
      for (const call of held) (call.method === 'write' ? write : end).apply(res, call.args)
      held.length = 0
    }
    finally {
      release()
    }
  }
  const hold = (call?: Call) => {
    if (call) held.push(call)
    if (phase !== 'open') return
    if (call?.method === 'end' && held.length === 1 && res.statusCode < 500 && state.idle()) {
      // A whole response, and nothing to save or send (a read, an unchanged session): it goes now.
      return settle()
    }
    phase = 'saving'
    if (res.statusCode >= 500) {
      state.close()
      return queueMicrotask(() => settle())
    }
    state.flush().then(() => settle(), settle)
  }

  const wrapped: Record<'writeHead' | 'write' | 'end', Method> = {
    writeHead(...args) {
      if (phase === 'done') return writeHead.apply(res, args)
      // Keep status and headers on the response; Node sends them with the first write or end.
      _applyWriteHead(res, args)
      return res
    },
    write(...args) {
      if (phase === 'done') return write.apply(res, args)
      hold({ method: 'write', args })
      return true
    },
    end(...args) {
      if (phase === 'done') return end.apply(res, args)
      // h3 decides "already answered" from writableEnded, which stays false while we hold the end.
      ;(event as unknown as { _handled: boolean })._handled = true
      hold({ method: 'end', args })
      return res
    },
  }
  Object.assign(res, wrapped)
}

function _applyWriteHead(res: Res, args: unknown[]): void {
  const [status, second, third] = args
  if (typeof status === 'number') res.statusCode = status
  if (typeof second === 'string') res.statusMessage = second
  const headers = typeof second === 'string' ? third : second
  if (Array.isArray(headers)) {
    const pairs = Array.isArray(headers[0]) ? headers as [string, string][] : Array.from({ length: headers.length / 2 }, (_, i) => [headers[2 * i], headers[2 * i + 1]] as [string, string])
    for (const [name, value] of pairs) res.setHeader(name, value)
  }
  else if (headers && typeof headers === 'object') {
    for (const [name, value] of Object.entries(headers)) {
      if (value !== undefined) res.setHeader(name, value as string)
    }
  }
}

function _sendError(res: Res, end: Method, state: SessionState, error: unknown): void {
  _log(state, error)
  const status = error instanceof SessionError ? error.statusCode : 500
  const message = error instanceof SessionError ? error.message : 'Session could not be saved'
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
  if (error instanceof SessionStoreError) return
  const code = (error as { code?: string })?.code ?? 'ERR_SESSION'
  const cause = (error as { cause?: { message?: string } })?.cause?.message
  state.config.logger.error(`Session not saved (${code})${cause ? `: ${cause}` : ''}`)
}
