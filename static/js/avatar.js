// The performer's avatar beside their name (the watch page, the embed, the room list): the
// room's picture the owner sets in the studio's "Room page" card, else a circle with the first
// letter of their name. It carries no text of its own: the name stays the element's text.

import {el} from './dom.js';

export function avatar(room) {
  const name = room.owner || room.title || '?';
  if (room.image_url) {
    const url = new URL(room.image_url, location.href);  // the room's own image, same origin (CSP)
    return el('img', {class: 'avatar', alt: '', width: '28', height: '28', src: url.pathname + url.search,
      title: name});
  }
  return el('span', {class: 'avatar initial', 'aria-hidden': 'true', title: name,
    dataset: {initial: Array.from(name)[0].toUpperCase()}});
}
