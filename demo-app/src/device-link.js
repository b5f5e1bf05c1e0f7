// How the demo gets a device token. Served by outpost-server with --dev-tokens, the page asks the server's
// development endpoint (POST /dev/token, docs/server.md) for a token on its first online start and keeps it
// in localStorage, so later starts (offline ones included) open the database with sync at once. Served by a
// plain static server, the endpoint is missing and the demo stays local-only. A real app would get its token
// from its own login instead.
const STORAGE_KEY = 'outpost-demo:device';
export const PROJECT = 'field-demo'; // the scope every record of the demo belongs to

/** The saved link ({ token, device, expiresAtMs }) or null. */
export function savedLink() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY)) ?? null;
  } catch {
    return null;
  }
}

/**
 * Asks the server for a development token (one day, the endpoint's maximum) and saves it.
 * @returns {Promise<object|null>} the saved link, or null when this server issues no tokens (404, a static
 *   server) or could not be reached within timeoutMs
 */
export async function requestLink({ timeoutMs = 5000 } = {}) {
  const device = savedLink()?.device ?? `tablet-${crypto.randomUUID().slice(0, 8)}`;
  let response;
  try {
    response = await fetch(new URL('/dev/token', location.origin), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'inspector', device, scopes: [PROJECT], ttl: '24h' }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch {
    return null; // offline, or too slow to wait for at start
  }
  if (!response.ok) return null;
  const { token, expiresAtMs } = await response.json();
  const link = { token, device, expiresAtMs };
  localStorage.setItem(STORAGE_KEY, JSON.stringify(link));
  return link;
}
