/**
 * Stands in for pg's Workers socket (`pg-cloudflare`, which imports `cloudflare:sockets`) in
 * bundles for other runtimes (Deno Deploy, ...): pg uses it only on Cloudflare Workers.
 * Evaluating it does nothing, so a bundle that hoists it still starts.
 */
function unavailable(): never {
  throw new Error('pg-cloudflare is only for Cloudflare Workers')
}

export const CloudflareSocket = unavailable as unknown as new () => never
export default { CloudflareSocket }
