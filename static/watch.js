// The fan page: the live video, the chat and the song-request queue of one room.

import {slugFromPath} from './js/api.js';
import {$} from './js/dom.js';
import {ChatView} from './js/chat.js';
import {LivePlayer} from './js/player.js';
import {QueueView} from './js/queue.js';
import {loadRoom, showSocketErrors, showViewers} from './js/room.js';
import {sessionCorner} from './js/session.js';
import {RoomSocket, socketStatus} from './js/socket.js';
import {useRealtime} from './whep.js';

async function main() {
  const slug = slugFromPath();
  const me = await sessionCorner($('#session'));
  const room = await loadRoom(slug, $('#room-notice'));
  if (!room) return;
  document.title = `${room.title} · Not a Label Live`;
  $('#room-title').textContent = room.title;
  $('#room-owner').textContent = room.owner ? `with ${room.owner}` : '';

  const socket = new RoomSocket(slug);
  socketStatus(socket, $('#socket-status'));
  showViewers(socket, $('#viewers'));
  showSocketErrors(socket, $('#room-notice'));
  new ChatView({log: $('#chat-log'), pinned: $('#pinned'), form: $('#chat-form'), input: $('#chat-input'),
    status: $('#chat-status'), note: $('#chat-note')}, {socket, me});
  const queue = new QueueView({list: $('#queue'), catalog: $('#catalog'), status: $('#queue-status')},
    {socket, slug, me});
  const player = new LivePlayer({video: $('#video'), overlay: $('#player-overlay'), badge: $('#live-badge')},
    {slug, socket});
  window.nal = {socket, player, queue};  // for the console and the browser tests
  socket.connect();
  player.start();
  if (room.latency_class === 'realtime') useRealtime(player, slug);  // WebRTC first, LL-HLS fallback
  queue.loadCatalog();
}

main();
