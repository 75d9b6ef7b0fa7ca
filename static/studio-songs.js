// The studio's song requests (Play / Skip / Done) and the catalog fans request from (add,
// edit, remove), over the studio's room socket; the same rules as the moderate page.

import {$, show} from './js/dom.js';
import {QueueView} from './js/queue.js';
import {songForm, songParts} from './js/songform.js';

export function songsPanel(room, socket, me) {
  show($('#songs-card'));
  const queue = new QueueView({list: $('#queue'), catalog: $('#catalog'), status: $('#song-status')},
    {socket, slug: room.slug, me, moderation: true});
  songForm(room.slug, queue, songParts());
  queue.loadCatalog();
  return queue;
}
