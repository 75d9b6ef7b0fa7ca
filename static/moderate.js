// The host page: chat with moderation, user tools, room settings, the song queue and
// catalog, and (for the owner) the hosts list.

import {api, roomPath, slugFromPath} from './js/api.js';
import {$, clear, el, say, show} from './js/dom.js';
import {banList} from './js/banlist.js';
import {ChatView} from './js/chat.js';
import {QueueView} from './js/queue.js';
import {songForm, songParts} from './js/songform.js';
import {loadRoom, showSocketErrors, showViewers} from './js/room.js';
import {sessionCorner} from './js/session.js';
import {RoomSocket, socketStatus} from './js/socket.js';

const TIMEOUT_S = 300;

async function main() {
  const slug = slugFromPath();
  const me = await sessionCorner($('#session'));
  const room = await loadRoom(slug, $('#room-notice'));
  if (!room) return;
  document.title = `Moderate ${room.title} · Not a Label Live`;
  $('#room-title').textContent = room.title;
  $('#watch-link').href = `/watch/${encodeURIComponent(slug)}`;
  if (room.role !== 'owner' && room.role !== 'host') {
    const why = me ? 'Only the room’s artist and hosts can moderate it.' : 'Sign in as the room’s artist or a host to moderate it.';
    say($('#room-notice'), why, 'error');
    return;
  }
  show($('#chat-panel'));
  show($('#side'));

  const socket = new RoomSocket(slug, {signedIn: Boolean(me)});
  socketStatus(socket, $('#socket-status'));
  showViewers(socket, $('#viewers'));
  showSocketErrors(socket, $('#room-notice'));
  new ChatView({log: $('#chat-log'), pinned: $('#pinned'), form: $('#chat-form'), input: $('#chat-input'),
    status: $('#chat-status'), note: $('#chat-note')}, {socket, me, moderation: true});
  const queue = new QueueView({list: $('#queue'), catalog: $('#catalog'), status: $('#song-status')},
    {socket, slug, me, moderation: true});
  userTools(socket);
  banList(slug, socket, {list: $('#bans'), status: $('#bans-status')});
  settingsForm(socket);
  songForm(slug, queue, songParts());
  hosts(slug, room.role === 'owner');
  socket.connect();
  queue.loadCatalog();
}

function userTools(socket) {
  $('#user-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const op = ev.submitter ? ev.submitter.value : 'mod.timeout';
    const user = $('#user-name').value.trim();
    const fields = op === 'mod.timeout' ? {user, seconds: TIMEOUT_S} : {user};
    try {
      await socket.send(op, fields);
      const done = {'mod.timeout': 'timed out for 5 minutes', 'mod.ban': 'banned', 'mod.unban': 'unbanned'};
      say($('#user-status'), `${user} ${done[op]}.`);
    } catch (err) {
      say($('#user-status'), err.message, 'error');
    }
  });
}

function settingsForm(socket) {
  const form = $('#settings-form');
  const fill = (settings) => {
    if (!settings || typeof settings !== 'object') return;
    if (settings.slow_mode_s !== undefined) {
      const value = String(settings.slow_mode_s);
      const select = $('#slow-mode');
      if (![...select.options].some((o) => o.value === value)) select.append(el('option', {value, text: `${value} seconds`}));
      select.value = value;
    }
    if (settings.chat) {
      for (const radio of form.elements.chat) radio.checked = radio.value === settings.chat;
    }
    if (Array.isArray(settings.blocked_terms)) $('#blocked-terms').value = settings.blocked_terms.join('\n');
  };
  socket.on('snapshot', (data) => fill(data.settings));
  socket.on('room.settings', (data) => fill(data.settings || data));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const blocked = $('#blocked-terms').value.split('\n').map((t) => t.trim()).filter(Boolean);
    const body = {slow_mode_s: Number($('#slow-mode').value), chat: form.elements.chat.value, blocked_terms: blocked};
    try {
      await socket.send('room.settings', body);
      say($('#settings-status'), 'Saved.');
    } catch (err) {
      say($('#settings-status'), err.message, 'error');
    }
  });
}

function hosts(slug, isOwner) {
  const list = $('#hosts');
  const status = $('#hosts-status');
  const render = (names) => {
    clear(list);
    if (names.length === 0) list.append(el('li', {class: 'empty', text: 'No hosts yet.'}));
    for (const name of names) {
      const item = el('li', {class: 'host', dataset: {name}}, el('span', {text: name}));
      if (isOwner) {
        item.append(el('button', {type: 'button', class: 'small secondary', text: 'Remove',
          'aria-label': `Remove host ${name}`, onclick: () => remove(name)}));
      }
      list.append(item);
    }
  };
  const load = async () => {
    try {
      render((await api(roomPath(slug, '/hosts'))).hosts || []);
    } catch (err) {
      say(status, err.message, 'error');
    }
  };
  const remove = async (name) => {
    try {
      await api(roomPath(slug, `/hosts/${encodeURIComponent(name)}`), {method: 'DELETE'});
      say(status, `${name} is no longer a host.`);
      await load();
    } catch (err) {
      say(status, err.message, 'error');
    }
  };
  if (isOwner) {
    const form = $('#host-form');
    show(form);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const username = $('#host-name').value.trim();
      try {
        render((await api(roomPath(slug, '/hosts'), {method: 'POST', body: {username}})).hosts || []);
        form.reset();
        say(status, `${username} is now a host.`);
      } catch (err) {
        say(status, err.message, 'error');
      }
    });
  }
  load();
}

main();
