// The studio's "Room page" card: the description and image fans see while the room is offline
// (PATCH /api/rooms/{slug}, PUT and DELETE /api/rooms/{slug}/image).

import {api, roomPath} from './js/api.js';
import {$, say, show} from './js/dom.js';

const MAX_IMAGE = 1_000_000;

function localUrl(url) {
  const parsed = new URL(url, location.href);
  return parsed.pathname + parsed.search;
}

export function profilePanel(room) {
  const preview = $('#room-image-preview');
  const status = $('#profile-status');
  const showImage = (current) => {
    if (current.image_url) preview.src = localUrl(current.image_url);
    show(preview, Boolean(current.image_url));
    show($('#room-image-remove'), Boolean(current.image_url));
  };
  $('#room-description').value = room.description || '';
  showImage(room);
  $('#profile-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api(roomPath(room.slug), {method: 'PATCH', body: {description: $('#room-description').value}});
      say(status, 'Description saved.');
    } catch (err) {
      say(status, err.message, 'error');
    }
  });
  const input = $('#room-image-file');
  input.addEventListener('change', async () => {
    const file = input.files[0];
    if (!file) return;
    if (file.size > MAX_IMAGE) {
      say(status, 'That image is larger than 1 MB: choose a smaller one.', 'error');
      return;
    }
    try {
      showImage(await api(roomPath(room.slug, '/image'), {method: 'PUT', raw: file}));
      say(status, 'Image saved.');
    } catch (err) {
      say(status, err.message, 'error');
    }
    input.value = '';
  });
  $('#room-image-remove').addEventListener('click', async () => {
    try {
      await api(roomPath(room.slug, '/image'), {method: 'DELETE'});
      showImage({});
      say(status, 'Image removed.');
    } catch (err) {
      say(status, err.message, 'error');
    }
  });
  show($('#profile-card'));
}
