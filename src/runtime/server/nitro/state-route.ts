import type { SessionEvent } from '../core/host'
import { sessionStateRoute } from './utils'

/**
 * The pages' state route (`session.pages.route`): one plain function for both generations. h3 2
 * takes a function as a handler; h3 1 takes it for one by this mark, without importing h3.
 */
const handler = Object.assign((event: SessionEvent) => sessionStateRoute(event), { __is_handler__: true })

export default handler
