import type { SessionEvent } from './host'
import type { ServerSession, SessionData } from '../../types'
import { SessionConfigError } from './errors'
import { handlerSession } from './session'
import type { SessionState, UserSession } from './session'

/**
 * "Your devices": sign a session in for a user, list that user's live sessions, end one, all,
 * or all but the current one. Each works on the session mounted on `event` (by `useSession`).
 */

function _state(event: SessionEvent): SessionState {
  const state = handlerSession(event)
  if (!state) throw new SessionConfigError('Mount the session first: await useSession(event, options).')
  return state
}

/**
 * Signs the request's session in for `userId`: a new session id (against fixation), the user
 * kept with the session, and an entry in the user's list of sessions. Applies
 * `maxSessionsPerUser`: ends the user's oldest other sessions, or throws `SessionLimitError`
 * (409) with `sessionLimit: 'refuse'`.
 */
export async function signInSession<T = SessionData>(event: SessionEvent, userId: string): Promise<ServerSession<T>> {
  const state = _state(event)
  await state.ready
  await state.signIn(userId)
  return state.session as unknown as ServerSession<T>
}

/**
 * The live sessions of `userId` (by default the user the request's session is signed in for),
 * oldest first, with safe metadata only: a handle (not the id), times, `current`, and a device
 * label where the app opted in. Entries of ended sessions are dropped on the way.
 */
export async function listSessions(event: SessionEvent, userId?: string): Promise<UserSession[]> {
  const state = _state(event)
  await state.ready
  return state.listSessions(userId ?? state.userId)
}

/**
 * Ends the session named by `handle` among the sessions of `userId` (by default the request's
 * own user, so a user can only end their own sessions). Its cookie is anonymous on its next
 * request, on every instance.
 */
export async function revokeSession(event: SessionEvent, handle: string, userId?: string): Promise<void> {
  const state = _state(event)
  await state.ready
  await state.revoke(userId, [handle])
}

/**
 * Ends all sessions of `userId` (by default the request's own user), or all but the current one
 * with `keepCurrent: true`: "sign out everywhere", for example after a password change.
 */
export async function revokeSessions(event: SessionEvent, options: { userId?: string, keepCurrent?: boolean } = {}): Promise<void> {
  const state = _state(event)
  await state.ready
  await state.revoke(options.userId, options.keepCurrent ? 'others' : 'all')
}

export type { UserSession }
