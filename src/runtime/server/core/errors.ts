import { H3Error } from 'h3'

/**
 * Base class of every error this library throws. Each subclass has a stable `code` and an HTTP
 * `statusCode`; the message is generic and never holds ids, secrets, data or driver text (the
 * original error, if any, stays server-side as `cause`). Being h3 errors, they become the right
 * HTTP response when thrown out of a handler.
 */
export class SessionError extends H3Error {
  static readonly code: string = 'ERR_SESSION'
  readonly code: string = SessionError.code
  constructor(message: string, options: { statusCode?: number, cause?: unknown } = {}) {
    super(message, { cause: options.cause })
    this.name = new.target.name
    this.statusCode = options.statusCode ?? 500
    this.statusMessage = message
  }
}

/** The options are invalid; thrown on first use, before any request is served. */
export class SessionConfigError extends SessionError {
  static override readonly code = 'ERR_SESSION_CONFIG'
  override readonly code = SessionConfigError.code
  constructor(message: string) {
    super(`[nuxt-server-session] ${message}`, { statusCode: 500 })
  }
}

/** The store failed or did not answer in time. The session is unknown, not empty: HTTP 503. */
export class SessionStoreError extends SessionError {
  static override readonly code = 'ERR_SESSION_STORE_UNAVAILABLE'
  override readonly code = SessionStoreError.code
  constructor(cause?: unknown) {
    super('Session store unavailable', { statusCode: 503, cause })
  }
}

/** The session was destroyed, moved or expired by another request before this one saved it: HTTP 409. */
export class SessionGoneError extends SessionError {
  static override readonly code = 'ERR_SESSION_GONE'
  override readonly code = SessionGoneError.code
  constructor() {
    super('Session ended by a concurrent request', { statusCode: 409 })
  }
}

/** The data cannot be stored: it is not JSON, or it is larger than `maxSize`. */
export class SessionDataError extends SessionError {
  static override readonly code = 'ERR_SESSION_DATA_INVALID'
  override readonly code = SessionDataError.code
  constructor(message: string, cause?: unknown) {
    super(message, { statusCode: 500, cause })
  }
}

/** A stored record cannot be decoded. The library treats it as "no session" and logs it. */
export class SessionRecordError extends SessionError {
  static override readonly code = 'ERR_SESSION_RECORD_CORRUPT'
  override readonly code = SessionRecordError.code
  constructor() {
    super('Stored session record is corrupt', { statusCode: 500 })
  }
}

/** A sign-in would go over `maxSessionsPerUser` with `sessionLimit: 'refuse'`: HTTP 409. */
export class SessionLimitError extends SessionError {
  static override readonly code = 'ERR_SESSION_LIMIT'
  override readonly code = SessionLimitError.code
  constructor() {
    super('Too many sessions for this user', { statusCode: 409 })
  }
}
