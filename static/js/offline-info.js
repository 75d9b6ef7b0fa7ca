// The watch page while the room is offline: the room's image over the empty player, its
// description and the next show (GET /api/rooms/{slug}/shows), so a fan knows when to come back.

import {api, roomPath} from './api.js';
import {show} from './dom.js';

/** The first show that is not over, by start time, or null. */
export function nextShow(shows, now = Date.now()) {
  const open = (Array.isArray(shows) ? shows : []).filter((s) => s && !s.over && s.starts_at);
  open.sort((a, b) => Date.parse(a.starts_at) - Date.parse(b.starts_at));
  const first = open[0] || null;
  return first ? {...first, started: Date.parse(first.starts_at) <= now} : null;
}

function when(iso) {
  return new Date(iso).toLocaleString([], {weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit',
    minute: '2-digit'});
}

/** parts: {image, card, next, description}; shown while ``player`` says 'offline'. */
export async function offlineInfo(parts, {room, slug, player}) {
  let shows = [];
  try {
    shows = (await api(roomPath(slug, '/shows'))).shows || [];
  } catch {
    shows = [];  // the card still shows the image and the description
  }
  const next = nextShow(shows);
  if (next) {
    parts.next.textContent = next.started ? `On now: ${next.title}` : `Next show: ${when(next.starts_at)} · ${next.title}`;
    parts.next.dataset.startsAt = next.starts_at;
  }
  show(parts.next, Boolean(next));
  parts.description.textContent = room.description || '';
  show(parts.description, Boolean(room.description));
  if (room.image_url) {
    const url = new URL(room.image_url, location.href);  // same origin as the page (CSP img-src 'self')
    parts.image.src = url.pathname + url.search;
  }
  const update = (state) => {
    const offline = state === 'offline';
    show(parts.image, offline && Boolean(room.image_url));
    show(parts.card, offline && Boolean(next || room.description));
  };
  player.onState = update;
  update(player.state);
}
