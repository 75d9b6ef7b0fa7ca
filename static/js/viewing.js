// Watching a ticketed show: the room's current show (GET /api/rooms/{slug}/shows), a viewing
// session for this device (POST /api/shows/{id}/viewing-sessions, with "Watch here instead?"
// on 409 watching_elsewhere) and its heartbeat, which renews the signed viewing token that
// LL-HLS (in the path of hls_url: /live/{room}/vt/{token}/) and WHEP (Authorization: Bearer)
// need in a gated room. Each answer also sets the token as the nal_vt cookie for /live/{room}/,
// which a native HLS player sends when it reloads the playlist address it started with (the
// token in that address expires; the cookie stays fresh).

import {ApiError, api, roomPath} from './api.js';

const HEARTBEAT_MS = 15000;  // unless the server says heartbeat_s (a quarter of a short token's life)
export const TAKEN_OVER = 'viewing.taken_over';

/** The room's show that gates it now (not over, with tiers), or null when the room is free. */
export async function currentShow(slug) {
  try {
    const {shows} = await api(roomPath(slug, '/shows'));
    return shows.find((show) => !show.over && show.tiers.length > 0) || null;
  } catch {
    return null;
  }
}

/**
 * This device's viewing session for ``show``: null without a ticket (403 ticket_needed).
 * ``confirm(question)`` decides a takeover when the ticket is watching elsewhere.
 */
export async function openViewing(show, {confirm = window.confirm.bind(window)} = {}) {
  const path = `/api/shows/${encodeURIComponent(show.id)}/viewing-sessions`;
  const key = `nal-viewing-${show.id}`;  // this tab watched the show before (a reload): no question
  const opened = (session) => {
    sessionStorage.setItem(key, session.session);
    return session;
  };
  try {
    return opened(await api(path, {method: 'POST', body: {}}));
  } catch (err) {
    if (err instanceof ApiError && err.code === 'watching_elsewhere') {
      const sameTab = sessionStorage.getItem(key) !== null;
      if (!sameTab && !confirm('This ticket is watching on another device. Watch here instead?')) return 'declined';
      return opened(await api(path, {method: 'POST', body: {takeover: true}}));
    }
    if (err instanceof ApiError && (err.status === 403 || err.status === 401)) return null;
    throw err;
  }
}

/** Keeps ``session`` fresh: ``onRenew(fresh)`` with each renewal, ``onLost(reason)`` once when
 * it ends (another device took over, the ticket was refunded). Returns stop(). */
export function keepViewing(session, {onRenew, onLost}) {
  let current = session;
  let stopped = false;
  let timer = null;
  const every = () => (current.heartbeat_s > 0 ? current.heartbeat_s * 1000 : HEARTBEAT_MS);
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
  };
  const lost = (reason) => {
    if (stopped) return;
    stop();
    onLost(reason);
  };
  const beat = async () => {
    try {
      current = await api(`/api/viewing-sessions/${encodeURIComponent(current.session)}/heartbeat`,
        {method: 'POST', body: {token: current.token}});
      if (!stopped) onRenew(current);
      return !stopped;
    } catch (err) {
      if (err instanceof ApiError && (err.status === 409 || err.status === 404)) lost(err.code);
      return false;
    }
  };
  const loop = async () => {
    await beat();
    if (!stopped) timer = setTimeout(loop, every());
  };
  timer = setTimeout(loop, every());
  return {
    get token() { return current.token; },
    lost,
    /** Renew now; resolves to whether the session still holds. */
    check: beat,
    stop,
  };
}
