// "Now playing": the song request a host marked playing (the queue's one `playing` item), with
// its artist and writers from the room's catalog. The watch page shows it under the video, the
// OBS overlay over the show. Text goes in as text (el), never as markup.

import {api, roomPath} from './api.js';
import {clear, el} from './dom.js';

function playingOf(queue) {
  return Array.isArray(queue) ? queue.find((item) => item && item.status === 'playing') || null : null;
}

export class NowPlaying {
  /** node: where to draw (hidden while nothing plays); options: {socket, slug, label} */
  constructor(node, {socket, slug, label = 'Now playing'}) {
    this.node = node;
    this.slug = slug;
    this.label = label;
    this.writers = new Map();  // song id -> writer names, from the catalog
    this.current = null;
    socket.on('snapshot', (data) => {
      const queue = Array.isArray(data.queue) ? data.queue : (data.queue && data.queue.queue);
      if (Array.isArray(queue)) this.show(playingOf(queue));
    });
    socket.on('song.queue', (data) => {
      if (Array.isArray(data.queue)) this.show(playingOf(data.queue));
    });
    this.show(null);
  }

  async show(item) {
    this.current = item;
    const song = item && item.song ? item.song : null;
    if (song && song.id !== undefined && !this.writers.has(String(song.id))) {
      await this.loadWriters();
      if (!this.writers.has(String(song.id))) this.writers.set(String(song.id), []);  // not listed: ask once
    }
    if (this.current !== item) return;  // a newer queue arrived while the catalog loaded
    this.render(song);
  }

  /** The catalog's writers (public, a page at a time); a failure leaves the names out. */
  async loadWriters() {
    let cursor = null;
    try {
      do {
        const query = cursor ? `?limit=200&cursor=${encodeURIComponent(cursor)}` : '?limit=200';
        const answer = await api(roomPath(this.slug, `/songs${query}`));
        for (const song of answer.songs || []) {
          this.writers.set(String(song.id), (song.writers || []).map((w) => w.name).filter(Boolean));
        }
        cursor = typeof answer.next_cursor === 'string' ? answer.next_cursor : null;
      } while (cursor);
    } catch {
      // the title and artist still show
    }
  }

  render(song) {
    clear(this.node);
    this.node.hidden = !song;
    this.node.dataset.songId = song ? String(song.id) : '';
    if (!song) return;
    const writers = this.writers.get(String(song.id)) || [];
    this.node.append(
      el('span', {class: 'np-label', text: this.label}),
      el('span', {class: 'np-song'},
        el('strong', {class: 'np-title', text: song.title || 'Untitled'}),
        song.artist ? el('span', {class: 'np-artist', text: ` · ${song.artist}`}) : null),
      writers.length ? el('span', {class: 'np-writers', text: `Written by ${writers.join(', ')}`}) : null);
  }
}
