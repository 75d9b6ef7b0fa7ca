// The page header's session corner: who is signed in, and a log-out button.

import {logOut, whoami} from './api.js';
import {clear, el} from './dom.js';

/** Fill `node` with the session state; resolves to the user or null. */
export async function sessionCorner(node, {onChange} = {}) {
  let user = null;
  try {
    user = await whoami();
  } catch {
    user = null;
  }
  render(node, user, onChange);
  return user;
}

export function render(node, user, onChange) {
  clear(node);
  if (!user) {
    // From a room, the front page sends the fan back here once signed in (index.js, ?next=).
    const here = location.pathname === '/' ? '' : `?next=${encodeURIComponent(location.pathname + location.search)}`;
    node.append(el('a', {href: `/${here}#account`, text: 'Sign in'}));
    return;
  }
  const button = el('button', {type: 'button', class: 'small secondary', text: 'Log out'});
  button.addEventListener('click', async () => {
    try {
      await logOut();
    } finally {
      render(node, null, onChange);
      if (onChange) onChange(null);
      else location.reload();
    }
  });
  node.append(el('span', {class: 'who'}, 'Signed in as ', el('strong', {text: user.username})), ' ', button);
}
