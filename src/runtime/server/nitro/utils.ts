import type { Storage } from 'unstorage'
import { DEFAULTS } from '../../defaults'
import type { ServerSession, SessionData, SessionOptions, SessionRuntimeConfig } from '../../types'
import { hostOf } from '../adapters'
import { consoleLogger } from '../core/config'
import { generateId } from '../core/crypto'
import { SessionConfigError, SessionError, SessionUnauthorizedError } from '../core/errors'
import { listSessions, revokeSession, revokeSessions, signInSession } from '../core/devices'
import type { UserSession } from '../core/devices'
import type { SessionEvent } from '../core/host'
import { handlerSession, mountSession } from '../core/session'
import { fromThisSite } from '../core/site'
import { postgresStoreFromConfig } from '../stores/postgres-config'
import { redisStoreFromConfig } from '../stores/redis-config'
import { UnstorageSessionStore } from '../stores/unstorage'

/**
 * What the server plugin of each Nitro generation hands to these functions at start: its
 * runtime config, its storage and, where async context is on, the current event. This file
 * imports no Nitro, so one copy serves Nitro 2 (auto-imported) and Nitro 3 (imported from
 * `nuxt-server-session/server`); on the global object, because a Nitro 3 build may load this file
 * once from its bundle and once from node_modules.
 */
export interface NitroBinding {
  /** `useRuntimeConfig()`, or the request's runtime config where the generation has one per request (Workers). */
  runtimeConfig: (event?: SessionEvent) => unknown
  storage: () => Storage
  /** The current request's event; throws when async context is off. */
  currentEvent: () => SessionEvent
  /** `import.meta.prerender` of the build. */
  prerender: boolean
  /**
   * A production build (`!import.meta.dev`): Nitro 3 leaves `process.env.NODE_ENV` to the
   * environment, so the mode comes from the build rather than from the process.
   */
  production: boolean
  /** Runs `close` when the server shuts down (Nitro's `close` hook). */
  onClose: (close: () => Promise<void> | void) => void
  /** Nitro's `hooks.callHook`: the lifecycle events go out as `session:created`, ... */
  callHook?: (name: string, ...args: unknown[]) => Promise<unknown> | undefined
}

const BINDING = Symbol.for('nuxt-server-session:nitro')

/** Called by the Nitro plugins, at start. */
export function bindNitro(binding: NitroBinding): void {
  (globalThis as Record<symbol, unknown>)[BINDING] = binding
}

function _binding(): NitroBinding {
  const binding = (globalThis as Record<symbol, NitroBinding | undefined>)[BINDING]
  if (!binding) throw new SessionConfigError('The session plugin is not running: add \'nuxt-server-session\' (Nuxt) or \'nuxt-server-session/nitro\' (Nitro) to `modules`.')
  return binding
}

/**
 * The session of the current request, loaded on first use (one store read when the request
 * carries a valid cookie, none otherwise) and shared by every later call in the request.
 * Changes are saved automatically before the response is sent.
 *
 * @param event The request. Optional where Nitro's async context is on
 * (`nitro: { experimental: { asyncContext: true } }`).
 * @throws {SessionStoreError} the store failed or timed out: HTTP 503 when not caught.
 *
 * @example
 * ```ts
 * export default defineEventHandler(async (event) => {
 *   const session = await useServerSession(event)
 *   session.update(data => ({ ...data, visits: (data.visits ?? 0) + 1 }))
 *   return { visits: session.data.visits }
 * })
 * ```
 */
export function useServerSession<T = SessionData>(event?: SessionEvent): Promise<ServerSession<T>> {
  let current: SessionEvent
  try {
    current = event ?? _binding().currentEvent()
  }
  catch (error) {
    return Promise.reject(Object.assign(new SessionConfigError('useServerSession() was called without an event while Nitro\'s async context is off. Pass the event, useServerSession(event), or enable it: nitro: { experimental: { asyncContext: true } }.'), { cause: error }))
  }
  let options: SessionOptions
  try {
    options = sessionOptions(current)
  }
  catch (error) {
    return Promise.reject(error)
  }
  return mountSession<T>(hostOf(current), current, options)
}

/** What Nuxt pages see of the session (`useSessionState()`): never the id, only what the app exposes. */
export interface PublicSessionState {
  /** A user is signed in (`signInServerSession`). */
  loggedIn: boolean
  /** The top-level keys named in `session.pages.expose`, and what `session:public` hooks add. */
  data: Record<string, unknown>
}

/**
 * The part of the request's session that pages may see: `loggedIn`, and of the data only the
 * top-level keys the app named (`session.pages.expose`), then whatever `session:public` hooks
 * put there (`nitroApp.hooks.hook('session:public', (state, { session, event }) => ...)`, for a
 * derived value such as a display name). `undefined` where no visitor's session can be known:
 * a prerendered or cached page, whose state the browser then loads itself.
 */
export async function publicSessionState(event: SessionEvent): Promise<PublicSessionState | undefined> {
  const binding = _binding()
  if (binding.prerender) return undefined
  const session = await useServerSession(event)
  if (handlerSession(event)?.detached) return undefined
  const expose = _list((binding.runtimeConfig() as { session: Partial<SessionRuntimeConfig> }).session.pages?.expose)
  const data: Record<string, unknown> = {}
  for (const key of expose) {
    if (Object.hasOwn(session.data, key)) data[key] = (session.data as Record<string, unknown>)[key]
  }
  const state: PublicSessionState = { loggedIn: typeof session.userId === 'string', data }
  await binding.callHook?.('session:public', state, { session, event })
  // A response that holds this visitor's session state (a page rendered with it) is for them
  // alone; one without a session is every guest's, so only Vary: Cookie (a CDN may keep it for
  // requests without a cookie).
  hostOf(event).markPrivate(event, session.isNew)
  // Only JSON leaves the server, as the hooks left it.
  return JSON.parse(JSON.stringify(state)) as PublicSessionState
}

/** A list option as config or env gives it: an array, or (Nitro 3 env vars) its JSON or comma-separated text. */
function _list(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String)
  if (typeof value !== 'string' || value.trim() === '') return []
  try {
    const parsed: unknown = JSON.parse(value)
    if (Array.isArray(parsed)) return parsed.map(String)
  }
  catch {
    // Not JSON: a comma-separated list.
  }
  return value.split(',').map(s => s.trim()).filter(Boolean)
}

/**
 * The route the Nuxt module registers for pages (`session.pages.route`, `/api/_session`): GET
 * answers the public state; DELETE signs out (destroys the session), refused with a 403 when
 * the browser says the call comes from another site. Never cached.
 */
export async function sessionStateRoute(event: SessionEvent): Promise<PublicSessionState> {
  const host = hostOf(event)
  host.markPrivate(event)
  const method = _method(event)
  if (method === 'DELETE') {
    if (!fromThisSite(name => host.requestHeader(event, name))) throw new SessionError('Cross-site sign-out refused', { statusCode: 403 })
    await (await useServerSession(event)).destroy()
    return { loggedIn: false, data: {} }
  }
  if (method !== 'GET' && method !== 'HEAD') throw new SessionError('Method not allowed', { statusCode: 405 })
  return (await publicSessionState(event)) ?? { loggedIn: false, data: {} }
}

function _method(event: SessionEvent): string {
  const e = event as { method?: string, req?: { method?: string, headers?: { get?: unknown } } }
  return String((typeof e.req?.headers?.get === 'function' ? e.req.method : e.method) ?? 'GET').toUpperCase()
}

export { safeRedirect } from '../core/redirect'
export { SESSION_ENDED_CLOSE_CODE, sessionWebSocket } from './websocket'
export type { SessionPeer, SessionUpgradeRequest, SessionWebSocketHooks } from './websocket'

/**
 * The session of a request that must come from a signed-in user (`signInServerSession`): as
 * `useServerSession`, with `userId` typed as a string, or a `SessionUnauthorizedError` (HTTP
 * 401, `ERR_SESSION_UNAUTHORIZED`) when no user is signed in. Loading it creates nothing.
 *
 * @example
 * ```ts
 * export default defineEventHandler(async (event) => {
 *   const { userId } = await requireServerSession(event)
 *   return db.orders.byUser(userId) // userId: string
 * })
 * ```
 */
export async function requireServerSession<T = SessionData>(event?: SessionEvent): Promise<ServerSession<T> & { readonly userId: string }> {
  const session = await useServerSession<T>(event)
  if (typeof session.userId !== 'string') throw new SessionUnauthorizedError()
  return session as ServerSession<T> & { readonly userId: string }
}

/**
 * Signs the request's session in for `userId` (call it at sign-in): a new session id, the user
 * kept with the session, and an entry in the user's list of devices. Applies `maxSessionsPerUser`.
 *
 * @example
 * ```ts
 * const session = await signInServerSession(event, user.id)
 * session.update({ name: user.name })
 * ```
 */
export async function signInServerSession<T = SessionData>(event: SessionEvent, userId: string): Promise<ServerSession<T>> {
  await useServerSession(event)
  return signInSession<T>(event, userId)
}

/**
 * The live sessions of `userId`, by default the signed-in user of this request: handle, times,
 * `current`, and a device label where enabled. Never session ids.
 */
export async function listServerSessions(event: SessionEvent, userId?: string): Promise<UserSession[]> {
  await useServerSession(event)
  return listSessions(event, userId)
}

/** Ends one session, by handle, of `userId` (by default the signed-in user of this request). */
export async function revokeServerSession(event: SessionEvent, handle: string, userId?: string): Promise<void> {
  await useServerSession(event)
  return revokeSession(event, handle, userId)
}

/**
 * Ends every session of `userId` (by default the signed-in user of this request), or every one
 * but the current with `keepCurrent: true`: "sign out everywhere".
 */
export async function revokeServerSessions(event: SessionEvent, options: { userId?: string, keepCurrent?: boolean } = {}): Promise<void> {
  await useServerSession(event)
  return revokeSessions(event, options)
}

/** Why production refuses to serve sessions: it names the env var, never the value. */
const MISSING_SECRET = `Missing or short session secret. Set NUXT_SESSION_SECRET to a random string of at least ${DEFAULTS.minSecretLength} characters (or a JSON array of them, the last one signing, to rotate).`

let cached: { source: SessionRuntimeConfig | string, options: SessionOptions } | undefined

/**
 * The core options built from `runtimeConfig.session` (with its env overrides), once per
 * config: the store and the parsed secrets are reused by every request.
 *
 * @param event The request, whose runtime config is used when the shared one has no secret.
 * @throws {SessionConfigError} in production, when the secret is missing or shorter than 32
 * characters.
 */
export function sessionOptions(event?: SessionEvent): SessionOptions {
  const binding = _binding()
  let config = (binding.runtimeConfig() as { session: SessionRuntimeConfig }).session
  let source: SessionRuntimeConfig | string = config
  if (event && !config.secret) {
    // Cloudflare Workers (without nodejs_compat) hand the Worker's vars and secrets to Nitro
    // with each request, after Nitro built its shared runtime config at startup: only the
    // request's config sees them. That is a new object per request, so it is cached by content.
    config = (binding.runtimeConfig(event) as { session: SessionRuntimeConfig }).session
    source = JSON.stringify(config)
  }
  if (cached?.source === source) return cached.options
  config = _coerced(config)
  const { cookie } = config
  const secret = _secretOrThrowaway(config.secret, binding.prerender)
  if (binding.production && (secret.length === 0 || secret.some(s => s.length < DEFAULTS.minSecretLength))) {
    // Found by a request rather than by the check at startup (Workers): the server is up, so
    // the logs must say it too.
    if (event) consoleLogger.error(MISSING_SECRET)
    throw new SessionConfigError(MISSING_SECRET)
  }
  const options: SessionOptions = {
    store: _chosenStore(config) ?? new UnstorageSessionStore(binding.storage(), { prefix: config.storage, ttl: config.ttl, sweepInterval: config.sweepInterval }),
    secret,
    ...(config.name ? { name: config.name } : {}),
    cookie: {
      path: cookie.path,
      ...(cookie.domain ? { domain: cookie.domain } : {}),
      httpOnly: cookie.httpOnly,
      // 'auto': Secure in production builds.
      secure: cookie.secure === 'auto' ? binding.production : Boolean(cookie.secure),
      sameSite: cookie.sameSite,
      partitioned: cookie.partitioned,
      ...(cookie.maxAge ? { maxAge: cookie.maxAge } : {}),
    },
    ttl: config.ttl,
    maxLifetime: config.maxLifetime,
    // Nuxt stores a null default as ''.
    ...(typeof config.touchInterval === 'number' ? { touchInterval: config.touchInterval } : {}),
    rolling: config.rolling,
    saveUninitialized: config.saveUninitialized,
    maxSize: config.maxSize,
    storeTimeout: config.storeTimeout,
    devices: { userAgent: config.devices.userAgent === true, ip: config.devices.ip === true },
    ...(binding.callHook ? { onLifecycle: _nitroHooks(binding.callHook) } : {}),
    // The Nuxt app's pages follow the session (useSessionState): only there.
    changedHeader: config.pages?.changedHeader === true,
    maxSessionsPerUser: Number(config.maxSessionsPerUser) || 0,
    sessionLimit: config.sessionLimit === 'refuse' ? 'refuse' : 'evict-oldest',
  }
  cached = { source, options }
  return options
}

/**
 * The runtime config with env-var strings turned into the numbers and booleans they spell
 * (`NUXT_SESSION_TTL=3600`, `NUXT_SESSION_ROLLING=true`): Nitro 3 leaves env values as strings.
 * A string that spells neither stays as it is, for the options check to name.
 */
function _coerced(config: SessionRuntimeConfig): SessionRuntimeConfig {
  const num = <T>(value: T): T | number => typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : value
  const bool = <T>(value: T): T | boolean => value === 'true' ? true : value === 'false' ? false : value
  const { cookie } = config
  return {
    ...config,
    ttl: num(config.ttl) as number,
    maxLifetime: num(config.maxLifetime) as number,
    touchInterval: num(config.touchInterval) as number | null,
    maxSize: num(config.maxSize) as number,
    storeTimeout: num(config.storeTimeout) as number,
    sweepInterval: num(config.sweepInterval) as number,
    rolling: bool(config.rolling) as boolean,
    saveUninitialized: bool(config.saveUninitialized) as boolean,
    cookie: { ...cookie, httpOnly: bool(cookie.httpOnly) as boolean, partitioned: bool(cookie.partitioned) as boolean, secure: bool(cookie.secure) as typeof cookie.secure, maxAge: num(cookie.maxAge) as number },
    devices: { userAgent: bool(config.devices?.userAgent) as boolean, ip: bool(config.devices?.ip) as boolean },
  }
}

/** Lifecycle events as Nitro runtime hooks: `nitroApp.hooks.hook('session:revoked', (event) => ...)`. */
function _nitroHooks(callHook: NonNullable<NitroBinding['callHook']>): NonNullable<SessionOptions['onLifecycle']> {
  return async (event) => {
    await callHook(`session:${event.type}`, event)
  }
}

/** The dedicated store the runtime config names (PostgreSQL or Redis), if any; never both. */
function _chosenStore(config: SessionRuntimeConfig): SessionOptions['store'] | undefined {
  const redis = redisStoreFromConfig(config.redis, config.ttl)
  const postgres = postgresStoreFromConfig(config.postgres, config.ttl, config.storeTimeout)
  if (redis && postgres) {
    throw new SessionConfigError('Both a Redis address (NUXT_SESSION_REDIS_*) and NUXT_SESSION_POSTGRES_URL are set: sessions are kept in one store. Unset one of them.')
  }
  return postgres ?? redis
}

/**
 * Prerendering runs the server during the build, where the runtime secret is usually not set;
 * a throwaway secret lets it run (prerendered pages carry no session).
 */
function _secretOrThrowaway(value: unknown, prerender: boolean): string[] {
  const secrets = parseSecret(value)
  if (secrets.length === 0 && prerender) secrets.push(generateId())
  return secrets
}

/** A secret from config or env: a string, an array, or a JSON array in a string (env vars). */
export function parseSecret(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String)
  if (typeof value !== 'string' || !value) return []
  if (value.startsWith('[')) {
    try {
      const list = JSON.parse(value)
      if (Array.isArray(list)) return list.map(String)
    }
    catch {
      // Not JSON: a plain secret that happens to start with "[".
    }
  }
  return [value]
}
