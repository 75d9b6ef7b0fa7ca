// The song catalog form: add a song, or edit one picked with its Edit button (PATCH), for the
// owner and hosts (studio and moderate pages). The queue view lists the catalog.

import {api, roomPath} from './api.js';
import {$, say} from './dom.js';

/** The form's parts by their ids (the same on the studio and moderate pages). */
export function songParts() {
  return {form: $('#song-form'), title: $('#song-title'), artist: $('#song-artist'), submit: $('#song-submit'),
    cancel: $('#song-cancel'), status: $('#song-status')};
}

/** parts: {form, title, artist, submit, cancel, status}; queue: a QueueView (loadCatalog, onEdit). */
export function songForm(slug, queue, parts) {
  const {form, title, artist, submit, cancel, status} = parts;
  let editing = null;
  const reset = () => {
    editing = null;
    form.reset();
    submit.textContent = 'Add song';
    cancel.hidden = true;
  };
  queue.onEdit = (song) => {
    editing = song.id;
    title.value = song.title || '';
    artist.value = song.artist || '';
    submit.textContent = 'Save song';
    cancel.hidden = false;
    title.focus();
  };
  cancel.addEventListener('click', reset);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = {title: title.value.trim(), artist: artist.value.trim()};
    try {
      if (editing === null) await api(roomPath(slug, '/songs'), {method: 'POST', body});
      else await api(roomPath(slug, `/songs/${encodeURIComponent(editing)}`), {method: 'PATCH', body});
      say(status, editing === null ? `Added ${body.title}.` : `Saved ${body.title}.`);
      reset();
      await queue.loadCatalog();
    } catch (err) {
      say(status, err.message, 'error');
    }
  });
  reset();
}
