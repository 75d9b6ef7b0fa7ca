// The JSON API: fetch with the session cookie, the CSRF header on unsafe requests,
// and errors thrown as ApiError with the server's code and message.

export const CSRF_COOKIE = 'nal_csrf';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function cookie(name) {
  for (const part of document.cookie.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return null;
}

/** ``body``: sent as JSON; ``raw``: a Blob or File sent as it is (an image upload). */
export async function api(path, {method = 'GET', body, raw} = {}) {
  const headers = {Accept: 'application/json'};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (raw !== undefined) headers['Content-Type'] = raw.type || 'application/octet-stream';
  if (!['GET', 'HEAD', 'OPTIONS'].includes(method)) {
    const token = cookie(CSRF_COOKIE);
    if (token) headers['X-CSRF-Token'] = token;
  }
  const response = await fetch(path, {
    method, headers, credentials: 'same-origin',
    body: raw !== undefined ? raw : body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const code = (data && data.error) || `http_${response.status}`;
    const message = (data && data.message) || response.statusText || 'request failed';
    throw new ApiError(response.status, code, message);
  }
  return data;
}

/** The signed-in user ({id, username}) or null for a guest. */
export async function whoami() {
  try {
    return await api('/api/me');
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return null;
    throw err;
  }
}

export async function signUp(username, password) {
  await api('/api/accounts', {method: 'POST', body: {username, password}});
  return logIn(username, password);
}

export async function logIn(username, password) {
  const answer = await api('/api/sessions', {method: 'POST', body: {username, password}});
  return answer.user || {username};
}

export async function logOut() {
  await api('/api/sessions', {method: 'DELETE'});
}

/** The room slug of a page at /watch/{slug}, /moderate/{slug} or /studio/{slug}. */
export function slugFromPath() {
  const parts = location.pathname.split('/').filter(Boolean);
  return parts.length >= 2 ? decodeURIComponent(parts[1]) : '';
}

export function roomPath(slug, rest = '') {
  return `/api/rooms/${encodeURIComponent(slug)}${rest}`;
}
