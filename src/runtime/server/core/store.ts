import { SessionDataError, SessionRecordError } from './errors'

/**
 * One stored session. Timestamps are milliseconds since the epoch and are the only source of
 * truth for expiry: cookies never decide it.
 */
export interface SessionRecord {
  /** When the session started; the absolute lifetime counts from here. */
  createdAt: number
  /** Last activity; the idle timeout counts from here. */
  touchedAt: number
  /** The earlier of the idle and the absolute deadline, computed at the last write. */
  expiresAt: number
  /** The data: a JSON object. */
  data: Record<string, unknown>
  /** The user the session was signed in for, if any (`signInSession`). */
  userId?: string
}

/** One session in a user's index: enough to find it and to show it, never its id. */
export interface SessionIndexEntry {
  /** The session's store key. */
  key: string
  /** When the session was signed in, in ms. */
  createdAt: number
  /** A device label, only where the app opted in to storing the user agent or IP. */
  label?: string
}

/** What a write carries besides the record, so that a store can write only what changed. */
export interface SessionWrite {
  /**
   * `true` for a new record (a new session, or the target of `regenerate()`); `false` to update a
   * record that must still exist: a store must then write nothing when the record is gone
   * (destroyed, moved or expired) and return `false`.
   */
  create: boolean
  /** Top-level data keys whose value changed since the record was read (all of them on create). */
  changed: readonly string[]
  /** Top-level data keys removed since the record was read. */
  removed: readonly string[]
  /** Seconds until `record.expiresAt`, for stores with native expiry (at least 1). */
  ttl: number
  /**
   * On an update, the record it starts from, as this store's `get` returned it (or as this store
   * last wrote it for the session). A store may skip its merge when what it holds is still that
   * record. Optional: a store may ignore it.
   */
  base?: SessionRecord
  /** `record` as `encodeSessionRecord` encoded it, when the caller has it already. */
  encoded?: string
}

/**
 * Where sessions are kept. Keys are opaque, already hashed strings (never a raw session id);
 * a store adds its own prefix. Implement it to bring your own backend; every method may throw
 * (or reject) on failure, which becomes a 503 for the request that needed the session.
 */
export interface SessionStore {
  /** Default idle timeout, in seconds, for sessions kept here; used when the options give none. */
  readonly ttl?: number
  /**
   * The record under `key`, or `undefined` when there is none. Expired records may be returned:
   * the caller checks their timestamps. Throw `SessionRecordError` (see `decodeSessionRecord`)
   * for a record that cannot be decoded.
   */
  get: (key: string) => Promise<SessionRecord | undefined>
  /**
   * Writes `record` under `key`. On update, only the keys in `write.changed` and `write.removed`
   * are required to change, so stores that can merge should, to keep parallel requests'
   * changes to other keys. Returns `false`, writing nothing, when updating a record that is gone.
   */
  set: (key: string, record: SessionRecord, write: SessionWrite) => Promise<boolean>
  /** Deletes the record under `key`; deleting a missing record is not an error. */
  delete: (key: string) => Promise<void>
  /**
   * Optional: the records under `keys`, in their order, read together (one round trip where the
   * backend can); a missing or undecodable record comes back `undefined`. Listing a user's
   * sessions uses it; without it, `get` is called for each key.
   */
  getMany?: (keys: readonly string[]) => Promise<(SessionRecord | undefined)[]>
  /**
   * Optional: moves the record under `from` to `to` and applies `write` there, atomically, for
   * `regenerate()`. Returns `false`, changing nothing, when `from` is gone, so that of two
   * concurrent regenerates exactly one wins. Without it, `regenerate()` writes the new record,
   * then deletes the old one.
   */
  move?: (from: string, to: string, record: SessionRecord, write: SessionWrite) => Promise<boolean>
  /** Optional: whether `move` works between these two keys (Redis Cluster: the same slot). */
  sameSlot?: (a: string, b: string) => boolean
  /**
   * Optional, for listing and revoking a user's sessions: adds (or replaces) `handle` in the
   * index under `userKey`, keeping the index at least `ttl` seconds. With `signIn: true` (a new
   * sign-in, not a session moved by `regenerate()`), a store that can should stamp the entry
   * later than every entry already there, atomically, so that concurrent sign-ins agree on their
   * order and `maxSessionsPerUser` holds across instances.
   */
  indexAdd?: (userKey: string, handle: string, entry: SessionIndexEntry, ttl: number, options?: { signIn?: boolean }) => Promise<void>
  /** Optional: the index under `userKey`, handle to entry (entries may name ended sessions). */
  indexList?: (userKey: string) => Promise<Record<string, SessionIndexEntry>>
  /** Optional: removes handles from the index under `userKey` (kept at least `ttl` seconds if not empty). */
  indexRemove?: (userKey: string, handles: readonly string[], ttl: number) => Promise<void>
}

const RECORD_VERSION = 1

/** Serialises a record to JSON. Throws `SessionDataError` for data that is not JSON or too big. */
export function encodeSessionRecord(record: SessionRecord, maxSize = Infinity): string {
  let data: string | undefined
  try {
    data = JSON.stringify(record.data)
  }
  catch (error) {
    throw new SessionDataError('Session data must be JSON-serialisable', error)
  }
  // A `toJSON` member can turn the object into anything: only a JSON object decodes back.
  if (typeof data !== 'string' || data[0] !== '{') throw new SessionDataError('Session data must serialise to a JSON object')
  if (![record.createdAt, record.touchedAt, record.expiresAt].every(Number.isFinite)) throw new SessionDataError('Session timestamps must be finite numbers')
  if (data.length > maxSize / 3 && utf8Length(data) > maxSize) {
    throw new SessionDataError(`Session data is larger than the ${maxSize} bytes allowed (maxSize)`)
  }
  const user = record.userId === undefined ? '' : `"userId":${JSON.stringify(String(record.userId))},`
  return `{"v":${RECORD_VERSION},"createdAt":${record.createdAt},"touchedAt":${record.touchedAt},"expiresAt":${record.expiresAt},${user}"data":${data}}`
}

/**
 * Decodes a stored record: JSON only, with `__proto__` and `constructor.prototype` keys dropped
 * so that no prototype can be reached through stored data. Accepts a string, bytes, or an object
 * already parsed by a driver. Throws `SessionRecordError` for anything else or any other shape.
 */
export function decodeSessionRecord(raw: unknown): SessionRecord {
  let value = raw
  if (value instanceof Uint8Array || value instanceof ArrayBuffer) value = new TextDecoder().decode(value)
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value, _hasSuspiciousKey(value) ? _dropPrototypeKeys : undefined)
    }
    catch {
      throw new SessionRecordError()
    }
  }
  else if (value && typeof value === 'object') {
    // A driver parsed it already: copy it through the same filter.
    try {
      value = JSON.parse(JSON.stringify(value), _dropPrototypeKeys)
    }
    catch {
      throw new SessionRecordError()
    }
  }
  if (!isPlainObject(value)) throw new SessionRecordError()
  const { createdAt, touchedAt, expiresAt, data, userId } = value as Record<string, unknown>
  if (!_isTime(createdAt) || !_isTime(touchedAt) || !_isTime(expiresAt) || !isPlainObject(data)) throw new SessionRecordError()
  if (userId !== undefined && typeof userId !== 'string') throw new SessionRecordError()
  const record: SessionRecord = { createdAt, touchedAt, expiresAt, data: data as Record<string, unknown> }
  if (userId !== undefined) record.userId = userId
  return record
}

/** One JSON value, parsed without reaching any prototype; `SessionRecordError` if it is not JSON. */
export function parseJsonValue(text: string): unknown {
  try {
    return JSON.parse(text, _hasSuspiciousKey(text) ? _dropPrototypeKeys : undefined)
  }
  catch {
    throw new SessionRecordError()
  }
}

/** A user's index from stored entries, keeping only well-formed ones (an index is never trusted blindly). */
export function parseIndex(entries: [string, unknown][]): Record<string, SessionIndexEntry> {
  const index: [string, SessionIndexEntry][] = []
  for (const [handle, entry] of entries) {
    if (!/^[\da-f]{24}$/.test(handle) || !isPlainObject(entry)) continue
    const { key, createdAt, label } = entry
    if (typeof key !== 'string' || !/^[\da-f]{64}$/.test(key) || !_isTime(createdAt)) continue
    index.push([handle, { key, createdAt, ...(typeof label === 'string' ? { label } : {}) }])
  }
  return Object.fromEntries(index)
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

export function utf8Length(text: string): number {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) bytes += 1
    else if (c < 0x800) bytes += 2
    else if (c >= 0xD800 && c < 0xDC00 && i + 1 < text.length) {
      bytes += 4
      i++
    }
    else bytes += 3
  }
  return bytes
}

function _isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0
}

function _hasSuspiciousKey(text: string): boolean {
  // A backslash-u escape can spell a key such as __proto__ without those letters in the text.
  return text.includes('__proto__') || text.includes('constructor') || text.includes('\\u')
}

function _dropPrototypeKeys(key: string, value: unknown): unknown {
  if (key === '__proto__') return undefined
  if (key === 'constructor' && value && typeof value === 'object' && 'prototype' in value) return undefined
  return value
}

/** A stored value as a record that has not expired at `now`, or `undefined` (gone, expired, undecodable). */
export function liveRecord(raw: unknown, now: number): SessionRecord | undefined {
  try {
    const current = decodeSessionRecord(raw)
    return current.expiresAt > now ? current : undefined
  }
  catch (error) {
    if (error instanceof SessionRecordError) return undefined
    throw error
  }
}

/** `record` with only its changed and removed keys applied over `current`'s data. */
export function mergeRecord(current: SessionRecord, record: SessionRecord, write: SessionWrite): SessionRecord {
  const replaced = new Set([...write.changed, ...write.removed])
  // Object.fromEntries defines keys rather than assigning them, so a "__proto__" key stays data.
  const data = Object.fromEntries([
    ...Object.entries(current.data).filter(([k]) => !replaced.has(k)),
    ...write.changed.map(k => [k, record.data[k]] as const),
  ])
  const { createdAt, touchedAt, expiresAt, userId } = record
  return { createdAt, touchedAt, expiresAt, data, ...(userId === undefined ? {} : { userId }) }
}

/** Where a record keeps the text it was read as or written as. */
const RECORD_TEXT = Symbol('nuxt-server-session.recordText')

/**
 * Remembers, on the record itself, the text a store read it as or wrote it as, so that an update
 * can see that what is stored is still the record it started from, and then write without
 * decoding and merging (`nextRecordText`). Comparing that text with what is stored compares
 * contents, so it holds whichever store the record came from, and it costs no WeakMap entry
 * (an ephemeron for the collector) per request.
 */
export function rememberRecordText(record: SessionRecord, text: string): void {
  // A plain property (a store, not a redefinition): `mergeRecord` builds its result field by
  // field, so no record ever carries the text of another.
  ;(record as { [RECORD_TEXT]?: string })[RECORD_TEXT] = text
}

/**
 * The text to store for an update, given what is stored now (`raw`): `record` itself when the
 * stored record is still the one the update started from, else `record`'s changes merged into
 * it; `undefined` when the stored one is gone, expired or unreadable.
 */
export function nextRecordText(raw: unknown, record: SessionRecord, write: SessionWrite, now: number): string | undefined {
  let next: SessionRecord
  if (write.base && raw === (write.base as { [RECORD_TEXT]?: string })[RECORD_TEXT]) {
    if (!(write.base.expiresAt > now)) return undefined
    next = record
  }
  else {
    const current = liveRecord(raw, now)
    if (!current) return undefined
    next = mergeRecord(current, record, write)
  }
  const text = next === record ? (write.encoded ?? encodeSessionRecord(record)) : encodeSessionRecord(next)
  if (next === record) rememberRecordText(record, text)
  return text
}
