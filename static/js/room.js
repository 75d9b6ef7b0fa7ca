// What every room page shares: the room's details and the viewer count from the socket.

import {ApiError, api, roomPath} from './api.js';
import {say} from './dom.js';

/** GET /api/rooms/{slug}; shows a notice and resolves to null when there is no such room. */
export async function loadRoom(slug, notice) {
  try {
    return await api(roomPath(slug));
  } catch (err) {
    const text = err instanceof ApiError && err.status === 404 ? 'There is no room at this address.' : err.message;
    say(notice, text, 'error');
    return null;
  }
}

export function showViewers(socket, node) {
  const set = (value) => {
    const count = typeof value === 'number' ? value : value && typeof value.viewers === 'number' ? value.viewers : null;
    if (count !== null) node.textContent = String(count);
  };
  socket.on('snapshot', (data) => set(data.viewers));
  socket.on('presence', (data) => set(data));
}

/** Socket errors that are not replies to our own ops (e.g. "you are banned"). */
export function showSocketErrors(socket, node) {
  socket.on('error', (frame) => say(node, frame.message || frame.code, 'error'));
}
