import { SessionConfigError } from '../core/errors'

/**
 * Stands in for `ioredis` in apps that do not have it installed, so that their build never
 * depends on it; asking for Redis sessions there fails with this message.
 */
function missing(): never {
  throw new SessionConfigError('Redis sessions need the ioredis package: npm install ioredis, then rebuild.')
}

export const Redis = missing as unknown as new (...args: unknown[]) => never
export const Cluster = missing as unknown as new (...args: unknown[]) => never
export default Redis
