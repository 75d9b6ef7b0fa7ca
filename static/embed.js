// The embeddable player /embed/{slug}: the live video of a free room, its state and viewers,
// a link to the room; with ?chat=1 the room's chat beside it. Another site frames it with
// <iframe src=".../embed/SLUG" allow="autoplay; fullscreen"> (the studio shows the code).
// A ticketed show is not played here: the link takes the fan to the watch page to buy.

import {slugFromPath, whoami} from './js/api.js';
import {$, show} from './js/dom.js';
import {ChatView} from './js/chat.js';
import {LivePlayer} from './js/player.js';
import {loadRoom, showViewers} from './js/room.js';
import {RoomSocket, socketStatus} from './js/socket.js';
import {unmutePrompt} from './js/unmute.js';
import {currentShow} from './js/viewing.js';
import {useRealtime} from './whep.js';

async function main() {
  const slug = slugFromPath();
  const withChat = new URLSearchParams(location.search).get('chat') === '1';
  const room = await loadRoom(slug, $('#room-notice'));
  if (!room) {
    $('#player-overlay').textContent = 'There is no room at this address.';
    return;
  }
  document.title = `${room.title} · Not a Label Live`;
  const title = $('#room-title');
  title.textContent = room.owner ? `${room.title} · ${room.owner}` : room.title;
  title.href = `/watch/${encodeURIComponent(slug)}`;
  let me = null;
  if (withChat) me = await whoami().catch(() => null);  // a third-party frame usually gets no cookie: a guest
  const socket = new RoomSocket(slug, {signedIn: Boolean(me)});
  socketStatus(socket, $('#socket-status'));
  showViewers(socket, $('#viewers'));
  if (withChat) {
    document.body.classList.add('with-chat');
    show($('#embed-chat'));
    new ChatView({log: $('#chat-log'), pinned: $('#pinned'), form: $('#chat-form'), input: $('#chat-input'),
      status: $('#chat-status'), note: $('#chat-note')}, {socket, me});
  }
  const player = new LivePlayer({video: $('#video'), overlay: $('#player-overlay'), badge: $('#live-badge')},
    {slug, socket});
  unmutePrompt($('#video'), $('#unmute'));
  window.nal = {socket, player};  // for the console and the browser tests
  socket.connect();
  if (await currentShow(slug)) {
    player.halt('This show needs a ticket: open the room to watch.');
    return;
  }
  player.start();
  if (room.latency_class === 'realtime') useRealtime(player, slug);
}

main();
