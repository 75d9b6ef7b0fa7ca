// The moderate page's list of banned users, each with Unban (the room socket's mod.unban);
// reloaded from GET /api/rooms/{slug}/bans whenever a ban or unban notice arrives.

import {api, roomPath} from './api.js';
import {clear, el, say} from './dom.js';

export function banList(slug, socket, {list, status}) {
  const render = (bans) => {
    clear(list);
    if (bans.length === 0) list.append(el('li', {class: 'empty', text: 'Nobody is banned.'}));
    for (const ban of bans) {
      const by = ban.by ? ` by ${ban.by}` : '';
      list.append(el('li', {class: 'ban', dataset: {name: ban.username}},
        el('span', {}, el('strong', {text: ban.username}), el('span', {class: 'muted', text: by})),
        el('button', {type: 'button', class: 'small secondary', text: 'Unban', 'aria-label': `Unban ${ban.username}`,
          onclick: () => unban(ban.username)})));
    }
  };
  const load = async () => {
    try {
      render((await api(roomPath(slug, '/bans'))).bans || []);
    } catch (err) {
      say(status, err.message, 'error');
    }
  };
  const unban = async (user) => {
    try {
      await socket.send('mod.unban', {user});
      say(status, `${user} unbanned.`);
    } catch (err) {
      say(status, err.message, 'error');
    }
  };
  socket.on('mod.notice', (data) => { if (data.action === 'ban' || data.action === 'unban') load(); });
  load();
}
