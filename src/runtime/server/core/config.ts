import { DEFAULTS } from '../../defaults'
import type { SessionLogger, SessionOptions } from '../../types'
import { SessionConfigError } from './errors'
import type { SessionStore } from './store'

/** Options after validation and defaults: what the core works with. */
export interface ResolvedConfig {
  store: SessionStore
  secrets: readonly string[]
  name: string
  cookie: {
    path: string
    domain?: string
    httpOnly: boolean
    secure: boolean
    sameSite: 'lax' | 'strict' | 'none'
    partitioned?: boolean
  }
  cookieMaxAge?: number
  saveUninitialized: boolean
  /** Idle timeout, ms. */
  ttl: number
  /** Absolute lifetime, ms. */
  maxLifetime: number
  /** ms. */
  touchInterval: number
  rolling: boolean
  autoSave: boolean
  maxSize: number
  storeTimeout: number
  logger: SessionLogger
  onLifecycle?: SessionOptions['onLifecycle']
  changedHeader: boolean
  now: () => number
  devices: { userAgent: boolean, ip: boolean }
  /** 0: no cap. */
  maxSessionsPerUser: number
  sessionLimit: 'evict-oldest' | 'refuse'
}

const TAG = '[nuxt-server-session]'
/** Cookie names are RFC 6265 tokens. */
const COOKIE_NAME_RE = /^[\w!#$%&'*+\-.^`|~]+$/

export const consoleLogger: SessionLogger = {
  warn: (message, ...details) => console.warn(`${TAG} ${message}`, ...details),
  error: (message, ...details) => console.error(`${TAG} ${message}`, ...details),
}

/** Production mode. Written so that bundlers (Nitro, Vite) replace it with the build's mode. */
export function isProduction(): boolean {
  try {
    return process.env.NODE_ENV === 'production'
  }
  catch {
    // No `process` on this runtime and no bundler to inline the mode.
    return false
  }
}

const resolved = new WeakMap<SessionOptions, ResolvedConfig>()
const warnedSecrets = new Set<string>()

/**
 * Validates options and applies defaults. The result is cached per options object, so an app
 * that passes one shared object pays for this once.
 */
export function resolveConfig(options: SessionOptions): ResolvedConfig {
  let config = resolved.get(options)
  if (!config) {
    config = _resolve(options)
    resolved.set(options, config)
  }
  return config
}

function _resolve(options: SessionOptions): ResolvedConfig {
  if (!options || typeof options !== 'object') throw new SessionConfigError('Session options are required: useSession(event, { store, secret }).')
  const { store } = options
  if (!store || typeof store.get !== 'function' || typeof store.set !== 'function' || typeof store.delete !== 'function') {
    throw new SessionConfigError('`store` must be a session store (get, set and delete), such as `new UnstorageSessionStore(storage)`.')
  }
  const logger = options.logger ?? consoleLogger
  const secrets = _secrets(options.secret, logger)

  const cookie = options.cookie ?? {}
  const secure = cookie.secure ?? isProduction()
  const path = cookie.path ?? '/'
  // Attribute values go into Set-Cookie as they are: refuse anything that could end the
  // attribute (`;`), break the header (CR, LF) or leave it out.
  if (typeof path !== 'string' || !/^\/[\x21-\x3A\x3C-\x7E]*$/.test(path)) throw new SessionConfigError('`cookie.path` must be a path starting with "/", without spaces, ";" or control characters.')
  if (cookie.domain !== undefined && cookie.domain !== '' && (typeof cookie.domain !== 'string' || !/^\.?[a-z\d](?:[a-z\d-]*[a-z\d])?(?:\.[a-z\d](?:[a-z\d-]*[a-z\d])?)*$/i.test(cookie.domain))) {
    throw new SessionConfigError('`cookie.domain` must be a host name, such as "example.com".')
  }
  const sameSite = cookie.sameSite ?? 'lax'
  if (!['lax', 'strict', 'none'].includes(sameSite)) throw new SessionConfigError('`cookie.sameSite` must be \'lax\', \'strict\' or \'none\'.')
  if (sameSite === 'none' && !secure) throw new SessionConfigError('`cookie.sameSite: \'none\'` requires `cookie.secure: true`; browsers reject it otherwise.')
  if (cookie.partitioned && !secure) throw new SessionConfigError('`cookie.partitioned` requires `cookie.secure: true`.')
  const canUseHostPrefix = secure && path === '/' && !cookie.domain
  const name = options.name ?? (canUseHostPrefix ? `__Host-${DEFAULTS.name}` : DEFAULTS.name)
  if (typeof name !== 'string' || !COOKIE_NAME_RE.test(name)) throw new SessionConfigError('`name` must be a valid cookie name.')
  if (name.startsWith('__Host-') && !canUseHostPrefix) throw new SessionConfigError('A `__Host-` cookie needs `secure: true`, `path: \'/\'` and no `domain`.')
  if (name.startsWith('__Secure-') && !secure) throw new SessionConfigError('A `__Secure-` cookie needs `secure: true`.')

  const ttl = _seconds('ttl', options.ttl ?? store.ttl ?? DEFAULTS.ttl)
  const maxLifetime = _seconds('maxLifetime', options.maxLifetime ?? DEFAULTS.maxLifetime)
  const touchInterval = options.touchInterval === undefined ? ttl / 10 : _seconds('touchInterval', options.touchInterval, true)
  if (touchInterval > ttl) throw new SessionConfigError('`touchInterval` cannot be longer than `ttl`, or idle sessions would expire while active.')
  const cookieMaxAge = cookie.maxAge === undefined ? undefined : _seconds('cookie.maxAge', cookie.maxAge) / 1000
  if (cookieMaxAge !== undefined && cookieMaxAge < 1) throw new SessionConfigError('`cookie.maxAge` must be at least 1 second.')

  return {
    store,
    secrets,
    name,
    cookie: {
      path,
      ...(cookie.domain ? { domain: cookie.domain } : {}),
      httpOnly: cookie.httpOnly ?? true,
      secure,
      sameSite,
      ...(cookie.partitioned ? { partitioned: true } : {}),
    },
    cookieMaxAge,
    saveUninitialized: options.saveUninitialized ?? false,
    ttl,
    maxLifetime,
    touchInterval,
    rolling: options.rolling ?? false,
    autoSave: options.autoSave ?? true,
    maxSize: _whole('maxSize', options.maxSize ?? DEFAULTS.maxSize, 2, Number.MAX_SAFE_INTEGER),
    // setTimeout cannot wait longer than 2^31 - 1 ms (it would fire at once).
    storeTimeout: _whole('storeTimeout', options.storeTimeout ?? DEFAULTS.storeTimeout, 1, 2 ** 31 - 1),
    logger,
    ...(typeof options.onLifecycle === 'function' ? { onLifecycle: options.onLifecycle } : {}),
    changedHeader: options.changedHeader === true,
    now: options.now ?? Date.now,
    devices: { userAgent: options.devices?.userAgent === true, ip: options.devices?.ip === true },
    maxSessionsPerUser: _cap(options.maxSessionsPerUser ?? 0, store),
    sessionLimit: _limit(options.sessionLimit),
  }
}

function _secrets(secret: SessionOptions['secret'], logger: SessionLogger): readonly string[] {
  const list = typeof secret === 'string' ? [secret] : Array.isArray(secret) ? [...secret] : []
  if (list.length === 0 || list.some(s => typeof s !== 'string' || s.length === 0)) {
    throw new SessionConfigError('`secret` must be a non-empty string or array of strings (the last one signs).')
  }
  const short = list.some(s => s.length < DEFAULTS.minSecretLength)
  if (short && isProduction()) {
    throw new SessionConfigError(`Every session secret must be at least ${DEFAULTS.minSecretLength} characters in production.`)
  }
  const fingerprint = list.join('\u0000')
  if (short && !warnedSecrets.has(fingerprint)) {
    warnedSecrets.add(fingerprint)
    logger.warn(`A session secret is shorter than ${DEFAULTS.minSecretLength} characters; production will refuse it.`)
  }
  return Object.freeze(list)
}

/** Browsers keep a cookie at most 400 days; no session here lives longer. */
const MAX_SECONDS = 400 * 24 * 60 * 60

function _seconds(name: string, value: unknown, allowZero = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0) || value > MAX_SECONDS) {
    throw new SessionConfigError(`\`${name}\` must be a positive number of seconds, at most 400 days.`)
  }
  return value * 1000
}

function _whole(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw new SessionConfigError(`\`${name}\` must be a whole number from ${min} to ${max}.`)
  return value
}

function _cap(value: unknown, store: SessionStore): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new SessionConfigError('`maxSessionsPerUser` must be a whole number, 0 for none.')
  if (value > 0 && (!store.indexAdd || !store.indexList || !store.indexRemove)) throw new SessionConfigError('`maxSessionsPerUser` needs a store that lists sessions by user (indexAdd, indexList, indexRemove).')
  return value
}

function _limit(value: unknown): 'evict-oldest' | 'refuse' {
  if (value === undefined || value === 'evict-oldest' || value === 'refuse') return value ?? 'evict-oldest'
  throw new SessionConfigError('`sessionLimit` must be \'evict-oldest\' or \'refuse\'.')
}
