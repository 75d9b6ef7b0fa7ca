// /invite/{token}: a songwriter named on a room's split sheet claims their share. What
// accrued to the line so far moves to them, and the sheet names them from then on.

import {api, signUp} from './js/api.js';
import {$, say, show} from './js/dom.js';
import {sessionCorner} from './js/session.js';

const token = decodeURIComponent(location.pathname.split('/').filter(Boolean)[1] || '');
const path = `/api/invitations/${encodeURIComponent(token)}`;

function percent(bps) {
  return `${Math.floor(bps / 100)}.${String(bps % 100).padStart(2, '0')}%`;
}

async function claim() {
  const answer = await api(`${path}/claim`, {method: 'POST'});
  say($('#status'), 'Claimed: your share now reaches you. See your earnings.', 'info');
  show($('#claim'), false);
  show($('#join'), false);
  $('#share').append(' ', Object.assign(document.createElement('a'), {href: '/earnings', textContent: 'Your earnings'}));
  return answer;
}

async function main() {
  const user = await sessionCorner($('#session'));
  let invitation;
  try {
    invitation = await api(path);
  } catch (err) {
    $('#share').textContent = 'This invitation link is not valid.';
    return;
  }
  $('#share').textContent = `${invitation.name}: ${invitation.role}, ${percent(invitation.bps)} of what the room ` +
    `“${invitation.room}” earns.`;
  if (invitation.claimed) {
    say($('#status'), 'This share was claimed already.', 'info');
    return;
  }
  $('#signin').href = `/?next=${encodeURIComponent(location.pathname)}#account`;
  show(user ? $('#claim') : $('#join'));
  $('#claim-button').addEventListener('click', () => claim().catch((err) => say($('#status'), err.message, 'error')));
  $('#signup-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await signUp($('#signup-username').value, $('#signup-password').value);
      await sessionCorner($('#session'));
      await claim();
    } catch (err) {
      say($('#status'), err.message, 'error');
    }
  });
}

main();
