import { SessionConfigError } from '../core/errors'

/**
 * Stands in for `pg` in apps that do not have it installed, so that their build never depends
 * on it; asking for PostgreSQL sessions there fails with this message.
 */
function missing(): never {
  throw new SessionConfigError('PostgreSQL sessions need the pg package: npm install pg, then rebuild.')
}

export const Pool = missing as unknown as new (...args: unknown[]) => never
export const Client = missing as unknown as new (...args: unknown[]) => never
export default { Pool, Client }
