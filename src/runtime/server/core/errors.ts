/**
 * Base class of every error this library throws. Each subclass has a stable `code` and an HTTP
 * status (`statusCode`, also as `status`); the message is generic and never holds ids, secrets,
 * data or driver text (the original error, if any, stays server-side as `cause`).
 *
 * Plain errors, so that the core imports no framework: h3 1 takes them for its own errors
 * (`__h3_error__`, what its `isError` checks) and answers with their status and message; h3 2
 * answers with their status (`status`), and the h3 2 adapter's middleware (Nitro 3, and the one
 * line of a plain h3 2 app) hands them over as h3 2 `HTTPError`s, message included.
 */
export class SessionError extends Error {
  /** h3 1 renders an error as its own when its class carries this mark. */
  static readonly __h3_error__ = true
  static readonly code: string = 'ERR_SESSION'
  declare readonly code: string
  declare statusCode: number
  declare statusMessage: string
  /** Never fatal, and known: the frameworks show the status and the message as they are. */
  declare fatal: boolean
  declare unhandled: boolean
  declare data: unknown

  constructor(message: string, options: { statusCode?: number, cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = (new.target as typeof SessionError).code
    this.statusCode = options.statusCode ?? 500
    this.statusMessage = message
    this.fatal = false
    this.unhandled = false
    this.data = undefined
  }

  /** The status under the web name (h3 2, `Response`). */
  get status(): number {
    return this.statusCode
  }

  get statusText(): string {
    return this.statusMessage
  }

  /** What a client may see: never the cause. */
  toJSON(): { statusCode: number, statusMessage: string, message: string, code: string } {
    return { statusCode: this.statusCode, statusMessage: this.statusMessage, message: this.message, code: this.code }
  }
}

/** One of ours, also from another copy of this module (a bundle and node_modules, say). */
export function isSessionError(error: unknown): error is SessionError {
  if (error instanceof SessionError) return true
  const { code, statusCode } = (error ?? {}) as { code?: unknown, statusCode?: unknown }
  return error instanceof Error && typeof code === 'string' && code.startsWith('ERR_SESSION') && typeof statusCode === 'number'
}

/** The options are invalid; thrown on first use, before any request is served. */
export class SessionConfigError extends SessionError {
  static override readonly code = 'ERR_SESSION_CONFIG'
  constructor(message: string) {
    super(`[nuxt-server-session] ${message}`, { statusCode: 500 })
  }
}

/** The store failed or did not answer in time. The session is unknown, not empty: HTTP 503. */
export class SessionStoreError extends SessionError {
  static override readonly code = 'ERR_SESSION_STORE_UNAVAILABLE'
  constructor(cause?: unknown) {
    super('Session store unavailable', { statusCode: 503, cause })
  }
}

/** No user is signed in to this request's session (`requireServerSession`): HTTP 401. */
export class SessionUnauthorizedError extends SessionError {
  static override readonly code = 'ERR_SESSION_UNAUTHORIZED'
  constructor() {
    super('Sign-in required', { statusCode: 401 })
  }
}

/** The session was destroyed, moved or expired by another request before this one saved it: HTTP 409. */
export class SessionGoneError extends SessionError {
  static override readonly code = 'ERR_SESSION_GONE'
  constructor() {
    super('Session ended by a concurrent request', { statusCode: 409 })
  }
}

/** The data cannot be stored: it is not JSON, or it is larger than `maxSize`. */
export class SessionDataError extends SessionError {
  static override readonly code = 'ERR_SESSION_DATA_INVALID'
  constructor(message: string, cause?: unknown) {
    super(message, { statusCode: 500, cause })
  }
}

/** A stored record cannot be decoded. The library treats it as "no session" and logs it. */
export class SessionRecordError extends SessionError {
  static override readonly code = 'ERR_SESSION_RECORD_CORRUPT'
  constructor() {
    super('Stored session record is corrupt', { statusCode: 500 })
  }
}

/** A sign-in would go over `maxSessionsPerUser` with `sessionLimit: 'refuse'`: HTTP 409. */
export class SessionLimitError extends SessionError {
  static override readonly code = 'ERR_SESSION_LIMIT'
  constructor() {
    super('Too many sessions for this user', { statusCode: 409 })
  }
}
