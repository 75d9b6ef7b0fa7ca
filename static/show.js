// /studio/{slug}/shows/{id}: a show's analytics after (or during) the show: the summary,
// charts (server-rendered SVG) and CSV downloads. The owner sees money (and downloads the
// show's settlement sheet and setlist); a host does not.

import {$, clear, el, say, show} from './js/dom.js';
import {audienceFacts, chartUrl, engagementFacts, facts, loadAnalytics, revenueFacts} from './js/analytics.js';
import {formatAmount} from './js/money.js';
import {sessionCorner} from './js/session.js';

const [, , slug, , showId] = location.pathname.split('/');

function render(data) {
  $('#show-title').textContent = data.show.title;
  $('#show-when').textContent = `Room ${data.show.room} · starts ${new Date(data.show.starts_at * 1000).toLocaleString()}`;
  facts($('#summary'), [...audienceFacts(data.audience), ...engagementFacts(data.engagement)]);
  const money = 'revenue' in data;
  show($('#revenue-card'), money);
  if (money) {
    facts($('#revenue'), revenueFacts(data.revenue));
    const list = $('#supporters');
    clear(list);
    for (const s of data.supporters) list.append(el('li', {text: `${s.name}: ${formatAmount(s.amount, data.show.currency)}`}));
    if (!data.supporters.length) list.append(el('li', {text: 'No tips or boosts yet.'}));
    $('#chart-revenue').src = chartUrl(showId, 'revenue');
  }
  const songs = $('#top-songs');
  clear(songs);
  for (const s of data.engagement.top_songs) songs.append(el('li', {text: `${s.song} (${s.requests})`}));
  if (!data.engagement.top_songs.length) songs.append(el('li', {text: 'No requests yet.'}));
  $('#chart-viewers').src = chartUrl(showId, 'viewers');
  $('#chart-chat').src = chartUrl(showId, 'chat');
  const downloads = $('#downloads');
  clear(downloads);
  for (const name of ['viewers', 'health', 'chat', 'marks', ...(money ? ['revenue'] : [])]) {
    const href = `/api/shows/${encodeURIComponent(showId)}/analytics/${name}.csv`;
    downloads.append(el('li', {}, el('a', {href, download: '', text: `${name}.csv`})));
  }
  if (money) {  // the owner's money reports: who got what and why; the performance-rights setlist
    const id = encodeURIComponent(showId);
    for (const [name, href] of [['settlement', `/api/shows/${id}/settlement?format=csv`],
                                ['setlist', `/api/shows/${id}/setlist.csv`]]) {
      downloads.append(el('li', {}, el('a', {href, download: '', id: `download-${name}`, text: `${name}.csv`})));
    }
  }
}

async function main() {
  $('#back').href = `/studio/${encodeURIComponent(slug)}`;
  const user = await sessionCorner($('#session'));
  if (!user) {
    say($('#status'), 'Sign in as the room’s owner or a host to see this show.', 'error');
    return;
  }
  try {
    render(await loadAnalytics(showId));
  } catch (e) {
    say($('#status'), e.message, 'error');
  }
}

main();
