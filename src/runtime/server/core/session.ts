import type { ServerSession, SessionData, SessionLifecycleEvent, SessionOptions } from '../../types'
import { consoleLogger, resolveConfig } from './config'
import type { ResolvedConfig } from './config'
import { childSetCookie, clearSessionCookie, requestSessionCookie, writeSessionCookie } from './cookie'
import type { SessionEvent, SessionHost } from './host'
import { generateId, signCookieValue, storeKeyOf, verifyCookieValue } from './crypto'
import { SessionConfigError, SessionDataError, SessionError, SessionGoneError, SessionLimitError, SessionRecordError, SessionStoreError } from './errors'
import { deadline } from './deadline'
import { encodeSessionRecord, isPlainObject } from './store'
import type { SessionIndexEntry, SessionRecord, SessionStore } from './store'

const STATE = Symbol.for('nuxt-server-session:state')
/** The session that `event.context.sessionHandler` names, and the anonymous one cached handlers get. */
const CONTEXT_STATE = Symbol.for('nuxt-server-session:context-state')
const ANONYMOUS = Symbol.for('nuxt-server-session:anonymous')

type Data = Record<string, unknown>
type EventWithState = SessionEvent & { [STATE]?: SessionState }
type ContextWithState = Record<PropertyKey, unknown> & { [CONTEXT_STATE]?: SessionState, [ANONYMOUS]?: SessionState, sessionHandler?: unknown }

/** Placeholders until a session is loaded or started; replaced, never changed in place. */
const EMPTY_DATA: Data = Object.freeze({}) as Data
const EMPTY_SNAPSHOT: Map<string, string> = new Map()
const RESOLVED = Promise.resolve()
const FACADE_STATE = Symbol('nuxt-server-session:facade-state')

/**
 * Mounts the session on `event` and loads it: reads and verifies the cookie, then one store
 * read. Afterwards `event.context.sessionHandler` is the session. Calls in the same request
 * share one load, and later calls may omit the options.
 *
 * @throws {SessionStoreError} the store failed or timed out (HTTP 503): the session is
 * unknown, and no empty session is made in its place.
 * @throws {SessionConfigError} the options are invalid.
 */
export function mountSession<T = SessionData>(host: SessionHost, event: SessionEvent, options?: SessionOptions): Promise<ServerSession<T>> {
  const mounted = (event as EventWithState)[STATE]
  if (mounted) {
    // h3 2 runs a cached handler on the visitor's own event (with a cookie-less request): a
    // session mounted before it, by a middleware, must not be handed to it.
    const usable = handlerSession(event)!
    return (usable === mounted ? mounted.ready : mounted.ready.then(() => usable.session)) as unknown as Promise<ServerSession<T>>
  }
  // A cached handler runs on an event of its own that shares the visitor's context: a session
  // mounted there (by a middleware) lends its options, never its data.
  const config = options ? undefined : (event.context as ContextWithState)[CONTEXT_STATE]?.config
  if (!options && !config) {
    return Promise.reject(new SessionConfigError('useSession(event) needs its options (at least { store, secret }) on the first call of a request, for example in a middleware.'))
  }
  let state: SessionState
  try {
    state = new SessionState(host, event, config ?? resolveConfig(options!), host.inCachedHandler(event))
  }
  catch (error) {
    return Promise.reject(error)
  }
  ;(event as EventWithState)[STATE] = state
  return state.ready as unknown as Promise<ServerSession<T>>
}

/**
 * `event.context.sessionHandler`: the session, except while a cached handler runs on this
 * context. Nitro runs it with the visitor's own context, so a session that a middleware mounted
 * would be readable there and its data rendered into a response replayed to every visitor; the
 * handler gets an anonymous, unsaveable session instead. Shared functions, not closures: no
 * allocation per request beyond the property itself.
 */
function _exposeSession(context: ContextWithState, state: SessionState): void {
  context[CONTEXT_STATE] = state
  Object.defineProperty(context, 'sessionHandler', { get: _sessionHandler, set: _replaceSessionHandler, enumerable: true, configurable: true })
}

function _sessionHandler(this: ContextWithState): ServerSession | undefined {
  const state = this[CONTEXT_STATE]
  if (!state || !state.host.inCachedHandler(state.event)) return state?.session
  return _anonymous(this, state)
}

/** The anonymous, unsaveable session a cached handler gets on this context. */
function _anonymous(context: ContextWithState, state: SessionState): ServerSession {
  return _anonymousState(context, state).session
}

function _anonymousState(context: ContextWithState, state: SessionState): SessionState {
  context[ANONYMOUS] ??= new SessionState(state.host, state.event, state.config, true)
  return context[ANONYMOUS]
}

function _replaceSessionHandler(this: ContextWithState, value: unknown): void {
  Object.defineProperty(this, 'sessionHandler', { value, writable: true, enumerable: true, configurable: true })
}

/** The session mounted on `event`, if `useSession` was called in this request. */
export function getMountedSession(event: SessionEvent): SessionState | undefined {
  return (event as EventWithState)[STATE]
}

/**
 * The session a handler running now on `event` may use: the mounted one, or, inside a cached
 * handler that runs on the visitor's own event (h3 2), the anonymous one (what `useSession`
 * gives there), so that no helper reads the visitor's session into a shared response.
 */
export function handlerSession(event: SessionEvent): SessionState | undefined {
  const state = getMountedSession(event)
  if (!state || state.detached || !state.host.inCachedHandler(event)) return state
  return _anonymousState(event.context as ContextWithState, state)
}

const ENDED = Symbol.for('nuxt-server-session:ended')

/**
 * Calls `listener` with the store key of every session this process ends: destroyed, revoked,
 * found expired, or regenerated away (its old key). The WebSocket support closes the sockets of
 * such a session at once. On the global object: a build may load this file twice.
 */
export function onSessionEnded(listener: (key: string) => void): void {
  const g = globalThis as Record<symbol, Set<(key: string) => void> | undefined>
  ;(g[ENDED] ??= new Set()).add(listener)
}

function _ended(key: string): void {
  const listeners = (globalThis as Record<symbol, Set<(key: string) => void> | undefined>)[ENDED]
  if (!listeners) return
  for (const listener of listeners) {
    try {
      listener(key)
    }
    catch {
      // A listener's failure is its own: the session has ended all the same.
    }
  }
}

/**
 * A session a sweep deleted (found expired outside a request): `session:expired` with reason
 * 'sweep' through `options.onLifecycle` (never awaited; a failure is logged), and its sockets closed.
 */
export function reportSwept(options: Pick<SessionOptions, 'onLifecycle' | 'logger'>, key: string, userId: string | undefined): void {
  _ended(key)
  const { onLifecycle } = options
  if (!onLifecycle) return
  const event: SessionLifecycleEvent = { type: 'expired', ref: key.slice(0, 8), ...(userId === undefined ? {} : { userId }), reason: 'sweep', at: Date.now() }
  Promise.resolve().then(() => onLifecycle(event)).catch((error: unknown) => {
    (options.logger ?? consoleLogger).error(`A session:expired hook failed: ${(error as Error)?.message ?? error}`)
  })
}

/** The response header of a request that changed the session: the pages refresh their state. */
export const SESSION_CHANGED_HEADER = 'x-session-changed'
/** On the context of a request that changed the session, and of the page whose internal request did. */
export const SESSION_CHANGED_MARK = Symbol.for('nuxt-server-session:changed')

/**
 * The per-request life of one session. Holds the data, a snapshot of it as loaded (one JSON
 * string per top-level key) to find what changed, and the cookie to send.
 */
export class SessionState {
  // Fields are declared and set in the constructor, never initialised in place: Nitro lowers
  // class fields for older targets into Object.defineProperty calls, which cost every request.
  declare readonly host: SessionHost
  declare readonly event: SessionEvent
  declare readonly config: ResolvedConfig
  /** Mounted inside a cached handler: anonymous, never saved, never sets a cookie. */
  declare readonly detached: boolean
  declare readonly ready: Promise<ServerSession>
  declare readonly session: ServerSession
  declare id: string
  declare private key: Promise<string> | undefined
  declare data: Data
  declare private snapshot: Map<string, string>
  /** The record as last read or written, which the next update starts from (a hint to the store). */
  declare private base: SessionRecord | undefined
  declare createdAt: number
  declare private touchedAt: number
  /** The user this session was signed in for (`signInSession`), kept with the record. */
  declare userId: string | undefined
  /** While `signIn` (or the new record's first write in `regenerate()`) runs: lifecycle steps stay quiet; the ref a sign-in regenerates from. */
  declare private signingIn: { from?: string } | undefined
  /** The record's own fields (the user) changed: the next commit writes even without data changes. */
  declare private metaDirty: boolean
  declare isNew: boolean
  /** A record exists in the store under `key`. */
  declare private persisted: boolean
  /** The request carried a cookie of ours (valid or not): clear it if no session is kept. */
  declare private hadCookie: boolean
  /** The cookie value the browser holds, when it is the current one. */
  declare private cookieInBrowser: string | undefined
  /** The signed cookie value of the current id, once computed. */
  declare private signed: string | undefined
  declare private signing: Promise<string> | undefined
  declare private cookieToSend: boolean
  declare private closed: boolean
  /** The last I/O operation queued by `_serial`, once there is one. */
  declare private queue: Promise<void> | undefined
  /** Operations queued by `_serial` and not yet finished. */
  declare private running: number
  /** The load has finished (successfully or not). */
  declare private loaded: boolean

  constructor(host: SessionHost, event: SessionEvent, config: ResolvedConfig, detached = false) {
    this.host = host
    this.event = event
    this.config = config
    this.detached = detached
    this.id = ''
    this.key = undefined
    this.data = EMPTY_DATA
    this.snapshot = EMPTY_SNAPSHOT
    this.base = undefined
    this.createdAt = 0
    this.touchedAt = 0
    this.userId = undefined
    this.signingIn = undefined
    this.metaDirty = false
    this.isNew = true
    this.persisted = false
    this.hadCookie = false
    this.cookieInBrowser = undefined
    this.signed = undefined
    this.signing = undefined
    this.cookieToSend = false
    this.closed = false
    this.queue = undefined
    this.running = 0
    this.loaded = false
    this.session = new SessionFacade(this) as unknown as ServerSession
    if (config.autoSave && !detached) host.installAutoSave?.(event, this)
    this.ready = this._load().then(() => {
      this.loaded = true
      // A cached handler's context is the visitor's own: leave its sessionHandler alone.
      if (!detached) _exposeSession(event.context as ContextWithState, this)
      return this.session
    }, (error) => {
      // The session is unknown, not empty: nothing may be written or cleared for it.
      this.loaded = true
      this.closed = true
      throw error
    })
    // The caller gets the rejection; this only keeps an unawaited failure from being reported twice.
    this.ready.catch(() => {})
  }

  private async _load(): Promise<void> {
    const { config } = this
    const read = this.detached ? { kind: 'none' as const } : requestSessionCookie(this.host, this.event, config.name)
    this.hadCookie = read.kind !== 'none'
    if (read.kind === 'value') {
      // A returning visitor's cookie is usually known already: no await then.
      let verified = _knownCookie(config, read.value)
      if (!verified) verified = await _verified(config, read.value)
      if (verified) {
        const record = await this._read(verified.key)
        if (record) {
          this.id = verified.id
          this.key = Promise.resolve(verified.key)
          this._adopt(record)
          this.isNew = false
          this.persisted = true
          this.cookieInBrowser = read.value
          // Signed by an older secret: re-sign with the newest on this response.
          if (verified.secretIndex !== config.secrets.length - 1) this._needCookie()
          return
        }
        this._event('unknown or ended session cookie', verified.key)
      }
      else {
        this._event('rejected cookie (malformed or bad signature)')
      }
    }
    else if (read.kind === 'duplicate') {
      this._event('rejected cookie (sent twice)')
    }
    this._fresh()
  }

  /** A lifecycle event for `logger.info`, naming the session by a short hash of its store key only. */
  private _event(what: string, key?: string): void {
    if (this.config.logger.info) this.config.logger.info(`Session ${what}${key ? ` (ref ${key.slice(0, 8)})` : ''}`)
  }

  /**
   * Tells `onLifecycle` (the modules: Nitro's `session:*` hooks), never awaited: the hook runs
   * after the current step, a rejection or a throw is logged, and the response never waits.
   * During a sign-in the steps stay quiet; the sign-in reports once, when it is done.
   */
  private _lifecycle(type: SessionLifecycleEvent['type'], key: string, reason: string, extra: { from?: string, userId?: string } = {}): void {
    const { onLifecycle, logger, now } = this.config
    if (!onLifecycle) return
    if (this.signingIn && (type === 'created' || type === 'regenerated')) {
      // Also the first write of the new record, where a store cannot move one.
      this.signingIn.from ??= extra.from
      return
    }
    const event: SessionLifecycleEvent = { type, ref: key.slice(0, 8), ...(extra.from ? { from: extra.from.slice(0, 8) } : {}), ...(extra.userId === undefined ? {} : { userId: extra.userId }), reason, at: now() }
    Promise.resolve().then(() => onLifecycle(event)).catch((error: unknown) => {
      logger.error(`A session:${type} hook failed: ${(error as Error)?.message ?? error}`)
    })
  }

  /** Reads a live record, or `undefined`: missing, expired (deleted on the way) or corrupt (logged). */
  private async _read(key: string): Promise<SessionRecord | undefined> {
    let record: SessionRecord | undefined
    try {
      record = await this._store(() => this.config.store.get(key))
    }
    catch (error) {
      if (!(error instanceof SessionRecordError)) throw error
      this.config.logger.warn(`Security: corrupt session record ignored (ref ${key.slice(0, 8)})`)
      return undefined
    }
    if (!record) return undefined
    if (!isPlainObject(record) || !isPlainObject(record.data) || typeof record.createdAt !== 'number' || typeof record.touchedAt !== 'number' || typeof record.expiresAt !== 'number') {
      this.config.logger.warn(`Security: malformed session record ignored (ref ${key.slice(0, 8)})`)
      return undefined
    }
    if (this._expired(record)) {
      await this._store(() => this.config.store.delete(key))
      this._event('expired', key)
      const now = this.config.now()
      this._lifecycle('expired', key, now >= record.createdAt + this.config.maxLifetime ? 'absolute lifetime' : 'idle timeout', { userId: record.userId })
      _ended(key)
      return undefined
    }
    return record
  }

  /**
   * Idle and absolute deadlines, from the stored timestamps and the current options, so that a
   * shortened timeout applies to existing sessions at once.
   */
  private _expired(record: SessionRecord): boolean {
    const now = this.config.now()
    return now >= record.expiresAt
      || now >= record.touchedAt + this.config.ttl
      || now >= record.createdAt + this.config.maxLifetime
  }

  private _adopt(record: SessionRecord): void {
    this.userId = record.userId
    this.data = record.data
    this.createdAt = record.createdAt
    this.touchedAt = record.touchedAt
    this.snapshot = _snapshot(record.data)
    this.base = record
    this.metaDirty = false
  }

  /** Starts a new, empty, unsaved session with a new id. */
  private _fresh(): void {
    this.userId = undefined
    this.data = {}
    this.snapshot = EMPTY_SNAPSHOT
    this.createdAt = this.touchedAt = this.config.now()
    this.isNew = true
    this.persisted = false
    this._newId(generateId())
  }

  private _newId(id: string): void {
    this.id = id
    this.key = undefined
    this.base = undefined
    this.signed = undefined
    this.signing = undefined
    this.cookieInBrowser = undefined
    this.cookieToSend = false
  }

  private _storeKey(): Promise<string> {
    this.key ??= storeKeyOf(this.id)
    return this.key
  }

  /** Sends the cookie on this response; its signature is computed now, off the response path. */
  private _needCookie(): void {
    this.cookieToSend = true
    if (this.signing) return
    const id = this.id
    this.signing = signCookieValue(this.config.secrets.at(-1)!, this.config.name, id).then((value) => {
      if (this.id === id) this.signed = value
      return value
    })
    this.signing.catch(() => {})
  }

  private _expiresAt(touchedAt: number): number {
    return Math.min(touchedAt + this.config.ttl, this.createdAt + this.config.maxLifetime)
  }

  /** Top-level keys that differ from the snapshot. */
  private _diff(): { changed: string[], removed: string[] } {
    const changed: string[] = []
    const removed: string[] = []
    for (const k of Object.keys(this.data)) {
      let json: string | undefined
      try {
        json = JSON.stringify(this.data[k])
      }
      catch (error) {
        throw new SessionDataError('Session data must be JSON-serialisable', error)
      }
      if (json === undefined) {
        if (this.snapshot.has(k)) removed.push(k)
      }
      else if (this.snapshot.get(k) !== json) changed.push(k)
    }
    for (const k of this.snapshot.keys()) {
      if (!Object.hasOwn(this.data, k)) removed.push(k)
    }
    return { changed, removed }
  }

  private _touchDue(): boolean {
    return this.persisted && this.config.now() - this.touchedAt >= this.config.touchInterval
  }

  /**
   * Persists what changed and prepares the cookie. `force` saves a new session even when it is
   * empty (an explicit `save()`); a request's automatic save does not.
   */
  async commit(force = false): Promise<void> {
    if (this.closed) return
    if (this.detached) throw new SessionError('Sessions cannot be saved in a cached route: its response is shared by every visitor')
    const { config } = this
    const { changed, removed } = this._diff()
    const dataChanged = changed.length > 0 || removed.length > 0
    const now = config.now()
    if (!this.persisted) {
      if (!force && !dataChanged && !config.saveUninitialized) return
      await this._write(this._record(now), true, Object.keys(this.data), [])
      this.persisted = true
      this._needCookie()
      const key = await this._storeKey()
      this._event('created', key)
      this._lifecycle('created', key, 'first write', { userId: this.userId })
      this._tellPages()
      return
    }
    const touchDue = this._touchDue()
    if (!dataChanged && !touchDue && !this.metaDirty) return
    const userChanged = this.metaDirty
    await this._write(this._record(now), false, changed, removed)
    if (config.rolling) this._needCookie()
    if (dataChanged || userChanged) this._tellPages()
  }

  /**
   * Marks the response of a request that changed the session (its data, its user, or its end),
   * so that the pages' state (`useSessionState`) follows without a reload: the Nuxt app refreshes
   * it when a response carries this header. Nothing of the session is in it.
   */
  private _tellPages(): void {
    if (!this.config.changedHeader) return
    if (this.host.canWriteHeaders(this.event)) this.host.writeHeader(this.event, SESSION_CHANGED_HEADER, '1')
    // A page being rendered learns it on its context: from its own session, or from one of its
    // internal requests (SSR $fetch).
    ;(this.event.context as Record<symbol, unknown>)[SESSION_CHANGED_MARK] = true
    const parent = this.host.parentContext(this.event)
    if (parent) parent[SESSION_CHANGED_MARK] = true
  }

  private _record(now: number): SessionRecord {
    return { createdAt: this.createdAt, touchedAt: now, expiresAt: this._expiresAt(now), data: this.data, ...(this.userId === undefined ? {} : { userId: this.userId }) }
  }

  private async _write(record: SessionRecord, create: boolean, changed: string[], removed: string[]): Promise<void> {
    const { config } = this
    // Encoding first checks size and JSON-ness before anything reaches the store.
    const encoded = encodeSessionRecord(record, config.maxSize)
    const key = await this._storeKey()
    const ttl = Math.max(1, Math.ceil((record.expiresAt - config.now()) / 1000))
    const base = create ? undefined : this.base
    const written = await this._store(() => config.store.set(key, record, { create, changed, removed, ttl, encoded, ...(base ? { base } : {}) }))
    if (!written) {
      this._fresh()
      throw new SessionGoneError()
    }
    this.touchedAt = record.touchedAt
    this.snapshot = _snapshot(record.data)
    this.base = record
    this.metaDirty = false
  }

  /** Puts the cookie decided by `commit()` (or the deletion of a stale one) in the response headers. */
  private _applyCookie(): void {
    const { event, config } = this
    if (this.cookieToSend) {
      const value = this.signed
      if (value === undefined) return
      const remaining = (this.createdAt + config.maxLifetime - config.now()) / 1000
      const wanted = config.rolling ? (config.cookieMaxAge ?? config.ttl / 1000) : (config.cookieMaxAge ?? remaining)
      writeSessionCookie(this.host, event, config, value, Math.min(wanted, remaining))
      this.cookieInBrowser = value
      this.cookieToSend = false
    }
    else if (!this.persisted && this.hadCookie && this.cookieInBrowser === undefined && !childSetCookie(event, config.name)) {
      // The browser holds a cookie that names no live session: ask it to forget it.
      clearSessionCookie(this.host, event, config)
      this.hadCookie = false
    }
  }

  /**
   * `commit()`, then the cookie: what both `save()` and the automatic save do. It waits for the
   * load (a response can end while the session is still loading) and for the operations already
   * started on this session.
   */
  flush(force = false): Promise<void> {
    return this._serial(async () => {
      if (this.closed) return
      await this.commit(force)
      if (this.signing) await this.signing
      if (this.host.canWriteHeaders(this.event)) this._applyCookie()
    })
  }

  /**
   * Runs the session's I/O operations one after another, after the load: each one decides from
   * the state the previous one left (its id, whether it is stored), never from a half-done one.
   */
  private _serial(op: () => Promise<void>): Promise<void> {
    this.running++
    // A failed load has no session to act on: the caller already got that error.
    const run = (this.queue ?? RESOLVED).then(() => this.ready.then(op, () => {}))
    this.queue = run.then(() => {
      this.running--
    }, () => {
      this.running--
    })
    return run
  }

  /**
   * Whether a `flush()` now would do nothing: the session is loaded, no operation is running,
   * and there is nothing to write, no cookie to send or clear. The automatic save then lets the
   * response go at once. Errs on the side of `false`: the full flush decides those cases.
   */
  idle(): boolean {
    if (!this.loaded || this.running > 0) return false
    if (this.closed) return true
    if (this.cookieToSend || this.metaDirty) return false
    if (this.persisted ? this._touchDue() : (this.config.saveUninitialized || (this.hadCookie && this.cookieInBrowser === undefined))) return false
    try {
      const { changed, removed } = this._diff()
      return changed.length === 0 && removed.length === 0
    }
    catch {
      // Data that cannot be saved: the full flush reports it.
      return false
    }
  }

  /** Stops further writes: used once the response has gone with a 5xx. */
  close(): void {
    this.closed = true
  }

  /**
   * Runs a store operation within `storeTimeout`; any failure becomes a logged `SessionStoreError`
   * (503). The deadline is an entry in a queue shared by the operations of that timeout, not a
   * timer per operation.
   */
  private _store<R>(op: () => Promise<R>): Promise<R> {
    const { config } = this
    const fail = (error: unknown): SessionRecordError | SessionStoreError => {
      if (error instanceof SessionRecordError) return error
      const storeError = error instanceof SessionStoreError ? error : new SessionStoreError(error)
      // The cause stays here, server-side; the client only sees a generic 503.
      const cause = (storeError.cause as Error | undefined)?.message?.replace(/^\[nuxt-server-session\] /, '')
      config.logger.error(`Session store failed (${storeError.code})${cause ? `: ${cause}` : ''}`)
      return storeError
    }
    let pending: Promise<R>
    try {
      pending = op()
    }
    catch (error) {
      return Promise.reject(fail(error))
    }
    return new Promise<R>((resolve, reject) => {
      const timeout = deadline(config.storeTimeout, () => reject(fail(new SessionStoreError(new Error(`Store operation timed out after ${config.storeTimeout} ms`)))))
      Promise.resolve(pending).then((value) => {
        if (timeout.settle()) resolve(value)
      }, (error: unknown) => {
        // A late failure of an operation that already timed out was reported then.
        if (timeout.settle()) reject(fail(error))
      })
    })
  }

  /** @internal */
  setData(data: Data): void {
    if (!isPlainObject(data)) throw new SessionDataError('Session data must be a plain object')
    this.data = { ...data }
  }

  /** @internal */
  updateData(change: ((data: Data) => Data) | Data): void {
    if (typeof change === 'function') return this.setData(change(this.data))
    if (!isPlainObject(change)) throw new SessionDataError('session.update() takes a function or a plain object')
    // fromEntries defines keys rather than assigning them, so a "__proto__" key stays plain data.
    this.data = Object.fromEntries(Object.entries({ ...this.data, ...change }).filter(([, v]) => v !== undefined))
  }

  /** @internal */
  expiresAtNow(): number {
    return this._expiresAt(this.persisted ? this.touchedAt : this.config.now())
  }

  /** @internal */
  act(what: 'destroy' | 'regenerate' | 'reload' | 'touch'): Promise<void> {
    return this._serial(() => (what === 'destroy' ? this._destroy() : what === 'regenerate' ? this._regenerate() : what === 'reload' ? this._reload() : this._touch()))
  }

  private async _destroy(revoked?: string): Promise<void> {
    if (this.persisted) {
      const key = await this._storeKey()
      await this._store(() => this.config.store.delete(key))
      if (this.userId !== undefined) await this._unindex(this.userId, [handleOf(key)])
      this._event('destroyed', key)
      this._lifecycle(revoked ? 'revoked' : 'destroyed', key, revoked ?? 'destroy()', { userId: this.userId })
      this._tellPages()
      _ended(key)
    }
    const hadCookie = this.hadCookie || this.cookieInBrowser !== undefined || this.cookieToSend
    this._fresh()
    this.hadCookie = hadCookie
    if (hadCookie && this.host.canWriteHeaders(this.event)) {
      clearSessionCookie(this.host, this.event, this.config)
      this.hadCookie = false
    }
  }

  private async _regenerate(): Promise<void> {
    if (this.closed) throw new SessionError('The session can no longer change: the response has gone or the session failed to load')
    const oldKey = this.persisted ? await this._storeKey() : undefined
    if (oldKey && this.config.store.move) return this._move(oldKey, this.config.store.move.bind(this.config.store))
    const before = { id: this.id, key: this.key, snapshot: this.snapshot, base: this.base, signed: this.signed, signing: this.signing, cookieInBrowser: this.cookieInBrowser, cookieToSend: this.cookieToSend }
    this._newId(generateId())
    if (!oldKey) return
    // The new record exists before the old one goes, so a failure never loses the session.
    this.persisted = false
    this.snapshot = EMPTY_SNAPSHOT
    // The new record's first write is part of the regenerate, not a session created.
    const quiet = this.signingIn
    this.signingIn ??= {}
    try {
      await this.commit(true)
    }
    catch (error) {
      // Back to the old id: a caller that catches this must not end up saving a second session
      // beside the old one, which would stay valid.
      Object.assign(this, before, { persisted: true })
      throw error
    }
    finally {
      this.signingIn = quiet
    }
    await this._store(() => this.config.store.delete(oldKey))
    await this._reindex(oldKey)
    const key = await this._storeKey()
    this._event(`regenerated from ref ${oldKey.slice(0, 8)}`, key)
    this._lifecycle('regenerated', key, 'regenerate()', { from: oldKey, userId: this.userId })
    _ended(oldKey)
  }

  /** `regenerate()` on a store that moves records atomically. */
  private async _move(oldKey: string, move: NonNullable<SessionStore['move']>): Promise<void> {
    const { config } = this
    const sameSlot = config.store.sameSlot?.bind(config.store)
    let id = generateId()
    let key = await storeKeyOf(id)
    // A key in the old key's slot (1 in 256 with the Redis store) keeps the move atomic on Cluster.
    for (let tries = 0; sameSlot && !sameSlot(oldKey, key) && tries < 10_000; tries++) {
      id = generateId()
      key = await storeKeyOf(id)
    }
    const { changed, removed } = this._diff()
    const now = config.now()
    const record = this._record(now)
    encodeSessionRecord(record, config.maxSize)
    const ttl = Math.max(1, Math.ceil((record.expiresAt - now) / 1000))
    const moved = await this._store(() => move(oldKey, key, record, { create: false, changed, removed, ttl }))
    if (!moved) {
      this._fresh()
      throw new SessionGoneError()
    }
    this._newId(id)
    this.key = Promise.resolve(key)
    this.touchedAt = now
    this.snapshot = _snapshot(this.data)
    this._needCookie()
    await this._reindex(oldKey)
    this._event(`regenerated from ref ${oldKey.slice(0, 8)}`, key)
    this._lifecycle('regenerated', key, 'regenerate()', { from: oldKey, userId: this.userId })
    _ended(oldKey)
  }

  /**
   * Signs the session in for `userId`: a new id (against fixation), the user kept with the
   * record, and an entry in the user's index; then applies the per-user cap.
   */
  signIn(userId: string): Promise<void> {
    return this._serial(async () => {
      const { config } = this
      if (typeof userId !== 'string' || userId.length === 0) throw new SessionDataError('A session is signed in for a user id: a non-empty string')
      if (config.maxSessionsPerUser && config.sessionLimit === 'refuse') {
        const others = (await this._live(userId)).filter(s => !s.current)
        if (others.length >= config.maxSessionsPerUser) throw new SessionLimitError()
      }
      if (this.persisted && this.userId !== undefined) await this._unindex(this.userId, [handleOf(await this._storeKey())])
      this.userId = undefined
      this.signingIn = {}
      try {
        await this._regenerate()
        this.userId = userId
        this.metaDirty = true
        await this.commit(true)
      }
      finally {
        const { from } = this.signingIn
        this.signingIn = undefined
        if (this.persisted) this._lifecycle(from ? 'regenerated' : 'created', await this._storeKey(), 'sign-in', { from, userId })
      }
      await this._index(userId, _deviceLabel(this.host, this.event, config), config.now(), true)
      // Listing prunes the entries of sessions that ended, so an index never grows past the
      // user's live sessions, with or without a cap.
      const live = await this._live(userId)
      if (config.maxSessionsPerUser) {
        // Checked after indexing, in one order (sign-in time) that concurrent sign-ins all
        // agree on: the cap's worth survive, whatever the interleaving.
        const excess = live.slice(0, Math.max(0, live.length - config.maxSessionsPerUser))
        if (config.sessionLimit === 'refuse') {
          const rank = live.findIndex(s => s.current)
          if (rank >= config.maxSessionsPerUser) {
            await this._destroy('maxSessionsPerUser')
            throw new SessionLimitError()
          }
        }
        else await this._revoke(userId, excess.map(s => s.handle), 'maxSessionsPerUser')
      }
    })
  }

  /** The live sessions of `userId` (the current session's user by default), oldest first. */
  async listSessions(userId = this.userId): Promise<UserSession[]> {
    await this.ready
    if (userId === undefined) return []
    return (await this._live(userId)).map(({ key: _key, ...session }) => session)
  }

  /** Ends sessions of `userId` by handle (ignoring handles that are not theirs); the current one too if named. */
  revoke(userId: string | undefined, handles: readonly string[] | 'all' | 'others'): Promise<void> {
    return this._serial(async () => {
      const user = userId ?? this.userId
      if (user === undefined) return
      const live = await this._live(user)
      const chosen = handles === 'all' ? live : handles === 'others' ? live.filter(s => !s.current) : live.filter(s => handles.includes(s.handle))
      await this._revoke(user, chosen.map(s => s.handle))
    })
  }

  private async _revoke(userId: string, handles: string[], reason = 'revoked'): Promise<void> {
    if (handles.length === 0) return
    const { store } = this.config
    const index = await this._indexOf(userId)
    const currentKey = this.persisted ? await this._storeKey() : undefined
    for (const handle of handles) {
      const key = index[handle]?.key
      if (!key) continue
      if (key === currentKey) {
        await this._destroy(reason)
        continue
      }
      await this._store(() => store.delete(key))
      this._lifecycle('revoked', key, reason, { userId })
      _ended(key)
    }
    await this._unindex(userId, handles)
  }

  private async _indexOf(userId: string): Promise<Record<string, SessionIndexEntry>> {
    const { store } = this.config
    if (!store.indexList) throw new SessionConfigError('This session store cannot list sessions by user (it has no indexList/indexAdd/indexRemove).')
    const userKey = await userKeyOf(userId)
    return this._store(() => store.indexList!(userKey))
  }

  /** The user's index, each entry checked against its session record; entries of ended sessions are dropped. */
  private async _live(userId: string): Promise<(UserSession & { key: string })[]> {
    const entries = Object.entries(await this._indexOf(userId))
    const currentKey = this.persisted ? await this._storeKey() : undefined
    const records = await this._records(entries.map(([, entry]) => entry.key))
    const now = this.config.now()
    const live: (UserSession & { key: string })[] = []
    const dead: string[] = []
    for (const [i, [handle, entry]] of entries.entries()) {
      const record = records[i]
      // An entry only counts when its record still belongs to this user and has not ended.
      if (!record || record.userId !== userId || now >= record.expiresAt || now >= record.touchedAt + this.config.ttl || now >= record.createdAt + this.config.maxLifetime) {
        dead.push(handle)
        continue
      }
      live.push({ handle, key: entry.key, createdAt: entry.createdAt, lastSeenAt: record.touchedAt, expiresAt: Math.min(record.touchedAt + this.config.ttl, record.createdAt + this.config.maxLifetime), current: entry.key === currentKey, ...(entry.label ? { device: entry.label } : {}) })
    }
    if (dead.length) await this._unindex(userId, dead)
    // By sign-in time (the index entry's), not by when the anonymous session began.
    return live.sort((a, b) => a.createdAt - b.createdAt)
  }

  /** The records under `keys`, read together where the store can (one round trip on Redis); corrupt ones `undefined`. */
  private _records(keys: string[]): Promise<(SessionRecord | undefined)[]> {
    const { store } = this.config
    if (keys.length === 0) return Promise.resolve([])
    if (store.getMany) return this._store(() => store.getMany!(keys))
    return Promise.all(keys.map(key => this._store(() => store.get(key)).catch((error: unknown) => {
      if (error instanceof SessionRecordError) return undefined
      throw error
    })))
  }

  /** After a move to a new key, the user's index names the new key instead of the old one. */
  private async _reindex(oldKey: string): Promise<void> {
    if (this.userId === undefined) return
    const old = this.config.store.indexList ? (await this._indexOf(this.userId))[handleOf(oldKey)] : undefined
    await this._index(this.userId, old?.label ?? _deviceLabel(this.host, this.event, this.config), old?.createdAt)
    await this._unindex(this.userId, [handleOf(oldKey)])
  }

  private async _index(userId: string, label?: string, signedInAt = this.createdAt, signIn = false): Promise<void> {
    const { store } = this.config
    if (!store.indexAdd) return
    const key = await this._storeKey()
    const userKey = await userKeyOf(userId)
    const entry: SessionIndexEntry = { key, createdAt: signedInAt, ...(label ? { label } : {}) }
    await this._store(() => store.indexAdd!(userKey, handleOf(key), entry, this.config.maxLifetime / 1000, { signIn }))
  }

  private async _unindex(userId: string, handles: string[]): Promise<void> {
    const { store } = this.config
    if (!store.indexRemove) return
    const userKey = await userKeyOf(userId)
    await this._store(() => store.indexRemove!(userKey, handles, this.config.maxLifetime / 1000))
  }

  private async _reload(): Promise<void> {
    const record = this.persisted ? await this._read(await this._storeKey()) : undefined
    if (record) this._adopt(record)
    else if (this.persisted) {
      this._fresh()
      this.hadCookie = true
    }
    else {
      this.data = {}
    }
  }

  private async _touch(): Promise<void> {
    if (!this.persisted) return
    const now = this.config.now()
    // Unsaved changes ride along: the store merges only the changed keys, never stale ones.
    const { changed, removed } = this._diff()
    await this._write(this._record(now), false, changed, removed)
    if (this.config.rolling) this._needCookie()
  }
}

/** One JSON string per top-level key, to find later which keys changed. */
function _snapshot(data: Record<string, unknown>): Map<string, string> {
  const snapshot = new Map<string, string>()
  for (const [k, v] of Object.entries(data)) {
    const json = JSON.stringify(v)
    if (json !== undefined) snapshot.set(k, json)
  }
  return snapshot
}

interface Verified { id: string, key: string, secretIndex: number }
const VERIFIED_LIMIT = 10_000
const verifiedCookies = new WeakMap<ResolvedConfig, Map<string, Verified>>()

/** A cookie value verified earlier with these options, if still remembered. */
function _knownCookie(config: ResolvedConfig, value: string): Verified | undefined {
  return verifiedCookies.get(config)?.get(value)
}

/**
 * The signature check and the store key of a cookie value, remembered per options for the
 * values seen recently: a returning visitor costs no crypto. Only values that verified are kept,
 * so forged cookies cannot fill the cache; it holds at most 10,000 entries, oldest out
 * (rather than strict LRU: no map churn on the hot path of every hit).
 */
async function _verified(config: ResolvedConfig, value: string): Promise<Verified | undefined> {
  let cache = verifiedCookies.get(config)
  if (!cache) verifiedCookies.set(config, cache = new Map())
  const hit = cache.get(value)
  if (hit) return hit
  const verified = await verifyCookieValue(config.secrets, config.name, value)
  if (!verified) return undefined
  const entry = { ...verified, key: await storeKeyOf(verified.id) }
  if (cache.size >= VERIFIED_LIMIT) cache.delete(cache.keys().next().value!)
  cache.set(value, entry)
  return entry
}

/** One of a user's sessions, as listed: never its id, only a handle that names it in this list. */
export interface UserSession {
  /** Names the session for `revoke`; useless as a cookie. */
  handle: string
  /** When it was signed in, in ms. */
  createdAt: number
  /** Its last activity (to the touch interval), in ms. */
  lastSeenAt: number
  /** When it ends if unused, in ms. */
  expiresAt: number
  /** Whether it is the session of the request that asked. */
  current: boolean
  /** The device label, only where the app opted in (`devices`). */
  device?: string
}

/** The public handle of a session: the tail of its store key (itself a hash of the id). */
export function handleOf(key: string): string {
  return key.slice(-24)
}

/** The index key of a user: a hash, so that no user id appears in store keys. */
export function userKeyOf(userId: string): Promise<string> {
  return storeKeyOf(`user\u0000${userId}`)
}

/** What the app opted in to remember about the device: its user agent and/or IP. */
function _deviceLabel(host: SessionHost, event: SessionEvent, config: ResolvedConfig): string | undefined {
  const parts: string[] = []
  if (config.devices.userAgent) {
    const ua = host.requestHeader(event, 'user-agent')
    if (ua) parts.push(String(ua).slice(0, 200))
  }
  if (config.devices.ip) {
    const ip = host.remoteAddress(event)
    if (ip) parts.push(ip)
  }
  return parts.length ? parts.join(' · ') : undefined
}

/**
 * The session object handed to apps: read-only getters on the prototype (cheap per request) and
 * methods as own functions, so that `const { update, save } = session` works too.
 */
class SessionFacade {
  // Declared and set in the constructor, for the reason given on SessionState.
  declare readonly set: (data: Data) => void
  declare readonly update: (change: ((data: Data) => Data) | Data) => void
  declare readonly save: () => Promise<void>
  declare readonly destroy: () => Promise<void>
  declare readonly regenerate: () => Promise<void>
  declare readonly reload: () => Promise<void>
  declare readonly touch: () => Promise<void>
  /** The state, under a symbol of this module: not an app-visible key. */
  declare readonly [FACADE_STATE]: SessionState

  constructor(state: SessionState) {
    this[FACADE_STATE] = state
    this.set = data => state.setData(data)
    this.update = change => state.updateData(change)
    this.save = () => state.flush(true)
    this.destroy = () => state.act('destroy')
    this.regenerate = () => state.act('regenerate')
    this.reload = () => state.act('reload')
    this.touch = () => state.act('touch')
  }

  get id(): string {
    return this[FACADE_STATE].id
  }

  get data(): Readonly<Data> {
    return this[FACADE_STATE].data
  }

  get isNew(): boolean {
    return this[FACADE_STATE].isNew
  }

  get userId(): string | undefined {
    return this[FACADE_STATE].userId
  }

  get createdAt(): number {
    return this[FACADE_STATE].createdAt
  }

  get expiresAt(): number {
    return this[FACADE_STATE].expiresAtNow()
  }
}
