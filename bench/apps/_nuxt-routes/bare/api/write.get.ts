// The bare app's equivalent of a session write: a counter in process memory, no session.
let visits = 0
export default defineEventHandler(() => ({ visits: ++visits }))
