/**
 * Stands in for pg's optional native binding (`pg-native`) in builds that bundle every
 * dependency (Cloudflare Workers, Deno Deploy): pg loads it only for `pg.native`, which the
 * session store never uses. Evaluating it does nothing, so a bundle that hoists it still starts.
 */
export default {}
