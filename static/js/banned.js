// What a fan sees when the room's hosts banned them: the room socket closes for good (4003),
// the video keeps playing, and the chat and song requests say plainly that they are closed.

import {say} from './dom.js';

export const BANNED_CODE = 4003;
const BANNED = 'You are banned from this room’s chat and song requests. You can still watch the show.';

export function showBan(socket, {notice, chat, queue}) {
  socket.on('status', ({state, code}) => {
    if (state !== 'closed' || code !== BANNED_CODE) return;
    say(notice, BANNED, 'error');
    chat.closeChat('Chat is closed to you in this room.');
    queue.closeTo('Song requests are closed to you in this room.');
  });
}
