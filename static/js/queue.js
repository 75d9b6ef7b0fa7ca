// The song-request queue and the room's song catalog.
// Fans request a song and vote; hosts and the owner play, skip and finish requests.

import {api, roomPath} from './api.js';
import {clear, el, say} from './dom.js';
import {formatAmount} from './money.js';

function songOf(item) {
  const song = item.song || {};
  return {title: song.title || item.title || 'Untitled', artist: song.artist || item.artist || ''};
}

export class QueueView {
  /**
   * parts: {list, catalog, status}; options: {socket, slug, me, moderation, currency, onBoost}
   * `onBoost(item, title)` adds a Boost button (paid) to each queued request.
   */
  constructor(parts, {socket, slug, me = null, moderation = false, currency = 'USD', onBoost = null}) {
    Object.assign(this, parts);
    this.currency = currency;
    this.onBoost = onBoost;
    this.socket = socket;
    this.slug = slug;
    this.me = me;
    this.moderation = moderation;
    this.onEdit = null;  // set by songForm: the catalog's Edit buttons
    this.voted = new Set();  // requests this fan voted for: the snapshot's ``voted``, then this page's votes
    this.closed = null;  // set by closeTo: why this fan may not see or join the queue
    this.queue = [];
    this.songs = [];
    this.render();
    socket.on('snapshot', (data) => {
      const queue = Array.isArray(data.queue) ? data.queue : (data.queue && data.queue.queue);
      if (Array.isArray(data.voted)) this.voted = new Set(data.voted.map(String));
      if (Array.isArray(queue)) this.setQueue(queue);
    });
    socket.on('song.queue', (data) => {
      const change = data.change || {};
      if (change.op === 'vote' && this.me && change.user_id === this.me.id) this.voted.add(String(change.request_id));
      if (Array.isArray(data.queue)) this.setQueue(data.queue);
      else if (data.change) this.apply(data.change);
    });
  }

  async loadCatalog() {
    try {
      // The catalog comes a page at a time; follow next_cursor to the end.
      const songs = [];
      let cursor = null;
      do {
        const query = cursor ? `?limit=200&cursor=${encodeURIComponent(cursor)}` : '?limit=200';
        const answer = await api(roomPath(this.slug, `/songs${query}`));
        if (Array.isArray(answer && answer.songs)) songs.push(...answer.songs);
        cursor = answer && typeof answer.next_cursor === 'string' ? answer.next_cursor : null;
      } while (cursor);
      this.songs = songs;
    } catch (err) {
      say(this.status, `Could not load the songs: ${err.message}`, 'error');
    }
    this.renderCatalog();
  }

  setQueue(queue) {
    this.queue = queue.filter((item) => item && typeof item === 'object');
    this.render();
  }

  /** Apply one queue change when an event carries the change rather than the whole queue. */
  apply(change) {
    const find = (id) => this.queue.find((item) => String(item.id) === String(id));
    const op = change.op;
    if (op === 'request' && change.request) {
      const r = change.request;
      if (!find(r.id)) {
        this.queue.push({id: r.id, song: {id: r.song_id, title: r.title, artist: r.artist},
          by: {name: r.user_name}, votes: 0, boost_minor: r.boost_minor || 0, status: 'queued', ts: r.ts});
      }
    } else if (op === 'vote' && find(change.request_id)) {
      find(change.request_id).votes = (find(change.request_id).votes || 0) + 1;
    } else if (op === 'play' && find(change.request_id)) {
      this.queue = this.queue.filter((item) => item.status !== 'playing' || String(item.id) === String(change.request_id));
      find(change.request_id).status = 'playing';
    } else if (op === 'skip' || op === 'done') {
      this.queue = this.queue.filter((item) => String(item.id) !== String(change.request_id));
    }
    this.queue.sort((a, b) => (a.status === 'playing' ? 0 : 1) - (b.status === 'playing' ? 0 : 1)
      || (b.boost_minor || 0) - (a.boost_minor || 0) || (b.votes || 0) - (a.votes || 0) || (a.ts || 0) - (b.ts || 0));
    this.render();
  }

  render() {
    clear(this.list);
    if (this.closed) {
      this.list.append(el('li', {class: 'empty', text: this.closed}));
      return;
    }
    if (this.queue.length === 0) {
      this.list.append(el('li', {class: 'empty', text: 'No requests yet.'}));
      return;
    }
    for (const item of this.queue) this.list.append(this.renderItem(item));
  }

  renderItem(item) {
    const {title, artist} = songOf(item);
    const votes = Number(item.votes || 0);
    const boost = Number(item.boost_minor || 0);
    const by = item.by && item.by.name ? item.by.name : '';
    const node = el('li', {class: `request ${item.status || ''}`, dataset: {id: String(item.id)}},
      el('span', {class: 'song'},
        el('strong', {class: 'title', text: title}),
        artist ? el('span', {class: 'artist', text: ` · ${artist}`}) : null),
      el('span', {class: 'meta'},
        item.status === 'playing' ? el('span', {class: 'badge playing', text: 'now playing'}) : null,
        by ? el('span', {class: 'by', text: `asked by ${by}`}) : null,
        el('span', {class: 'votes', text: `${votes} ${votes === 1 ? 'vote' : 'votes'}`}),
        boost > 0 ? el('span', {class: 'badge boost', text: `${formatAmount(boost, this.currency)} boost`}) : null));
    const buttons = el('span', {class: 'actions'});
    const mine = this.me && item.by && (item.by.id === this.me.id || item.by.name === this.me.username);
    if (mine) buttons.append(el('span', {class: 'badge mine', text: 'your request'}));
    if (this.me && item.status !== 'playing') {
      if (this.voted.has(String(item.id))) {
        buttons.append(el('button', {type: 'button', class: 'small voted', text: 'Voted', disabled: true,
          'aria-label': `You voted for ${title}`}));
      } else if (!mine) {
        buttons.append(this.button('Vote', `Vote for ${title}`, 'song.vote', item.id));
      }
      if (this.onBoost) {
        buttons.append(el('button', {type: 'button', class: 'small', text: 'Boost', 'aria-label': `Boost ${title}`,
          onclick: () => this.onBoost(item, title)}));
      }
    }
    if (this.moderation) {
      if (item.status !== 'playing') buttons.append(this.button('Play', `Play ${title}`, 'song.play', item.id));
      buttons.append(this.button('Skip', `Skip ${title}`, 'song.skip', item.id),
        this.button('Done', `Done with ${title}`, 'song.done', item.id));
    }
    node.append(buttons);
    return node;
  }

  button(label, aria, op, requestId) {
    return el('button', {type: 'button', class: 'small secondary', text: label, 'aria-label': aria,
      onclick: () => this.run(op, {request_id: String(requestId)})});
  }

  renderCatalog() {
    if (!this.catalog) return;
    clear(this.catalog);
    if (this.songs.length === 0) {
      this.catalog.append(el('li', {class: 'empty', text: 'The artist has not listed any songs yet.'}));
      return;
    }
    for (const song of this.songs) {
      const title = song.title || 'Untitled';
      this.catalog.append(el('li', {class: 'song-row', dataset: {id: String(song.id)}},
        el('span', {class: 'song'},
          el('strong', {class: 'title', text: title}),
          song.artist ? el('span', {class: 'artist', text: ` · ${song.artist}`}) : null),
        this.moderation ? this.editButtons(song, title) : el('button', {type: 'button', class: 'small',
          text: 'Request', 'aria-label': `Request ${title}`, disabled: !this.me || Boolean(this.closed),
          onclick: () => this.run('song.request', {song_id: Number(song.id)})})));
    }
  }

  editButtons(song, title) {
    const edit = this.onEdit ? el('button', {type: 'button', class: 'small secondary', text: 'Edit',
      'aria-label': `Edit ${title}`, onclick: () => this.onEdit(song)}) : null;
    return el('span', {class: 'actions'}, edit, this.removeButton(song, title));
  }

  removeButton(song, title) {
    return el('button', {type: 'button', class: 'small secondary', text: 'Remove', 'aria-label': `Remove ${title}`,
      onclick: async () => {
        try {
          await api(roomPath(this.slug, `/songs/${encodeURIComponent(song.id)}`), {method: 'DELETE'});
          await this.loadCatalog();
        } catch (err) {
          say(this.status, err.message, 'error');
        }
      }});
  }

  async run(op, fields) {
    try {
      await this.socket.send(op, fields);
      say(this.status, op === 'song.request' ? 'Requested.' : '');
      if (op === 'song.vote') this.markVoted(fields.request_id);
    } catch (err) {
      if (op === 'song.vote' && err.code === 'already_voted') {
        this.markVoted(fields.request_id);
        say(this.status, '');
      } else {
        say(this.status, err.message, 'error');
      }
    }
  }

  /** The queue is closed to this fan (banned): say why instead of an empty list. */
  closeTo(reason) {
    this.closed = reason;
    this.queue = [];
    this.render();
    this.renderCatalog();
  }

  markVoted(requestId) {
    this.voted.add(String(requestId));
    this.render();
  }
}
