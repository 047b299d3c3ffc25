// Tandem's status page: polls the read-only JSON API once a second and redraws. No build
// step, no library: the API is small and the charts are three SVG polylines.
'use strict';

const $ = (id) => document.getElementById(id);
let lastEvent = 0;

function age(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s >= 3600) return `${Math.floor(s / 3600)}h${Math.floor(s % 3600 / 60)}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${s}s`;
}

function text(id, value) { $(id).textContent = value == null ? '–' : String(value); }

function node(prefix, n, now) {
  if (!n) {
    text(prefix + '-role', 'UNKNOWN'); $(prefix + '-role').className = 'role UNKNOWN';
    ['vrrp', 'priority', 'up', 'flows', 'lag', 'override'].forEach((f) => text(`${prefix}-${f}`, '–'));
    return;
  }
  text(prefix + '-name', n.name);
  text(prefix + '-role', n.role);
  $(prefix + '-role').className = 'role ' + n.role;
  text(prefix + '-vrrp', n.vrrp);
  text(prefix + '-priority', n.priority);
  text(prefix + '-up', age(now - n.started_at_millis));
  text(prefix + '-flows', n.flows);
  text(prefix + '-lag', n.role === 'ACTIVE' ? '–' : n.lag_millis + ' ms');
  text(prefix + '-override', n.override);
}

function drawStatus(s) {
  const now = Date.now();
  const inSync = s.not_in_sync.length === 0;
  const box = $('verdict-box');
  box.className = 'verdict ' + (inSync ? 'ok' : 'bad');
  text('verdict', inSync ? 'IN SYNC' : 'NOT IN SYNC');
  const cmd = s.self.role === 'ACTIVE' ? 'failover' : 'takeover';
  const v = s[cmd];
  text('verdict-detail', v.allowed ? `safe to ${cmd === 'failover' ? 'fail over' : 'take over'}`
    : `${cmd} would be refused`);
  const reasons = $('reasons');
  reasons.replaceChildren(...(inSync ? v.reasons : s.not_in_sync).map((r) => {
    const li = document.createElement('li'); li.textContent = r; return li;
  }));
  node('self', s.self, now);
  node('peer', s.peer, now);
  text('peer-age', s.peer ? (s.peer_age_millis > 2000 ? `(last word ${age(s.peer_age_millis)} ago)` : '(peer)') : '(no word)');
  const y = s.sync;
  if (y) {
    const full = y.last_full_resync;
    text('sync-line', `${y.peer_connected ? 'connected to ' + y.peer : 'NOT connected'} · digests ${
      y.digests_equal == null ? 'not compared' : y.digests_equal ? 'equal' : 'DIFFER'} · sent ${y.records_sent} · received ${
      y.records_received} · queued ${y.queue_depth} · overflows ${y.overflows} · range resyncs ${y.range_resyncs} · last full resync ${
      full ? `${full.records} flows in ${full.millis} ms, ${age(now - full.finished_at_millis)} ago` : 'none'}`);
  } else {
    text('sync-line', 'no sync configured');
  }
  const p = s.self.preference;
  text('preference', p && p.preferred ? `preferred active: ${p.preferred} (${p.by})` : 'no preferred active: configured priorities decide');
  text('updated', 'updated ' + new Date(now).toLocaleTimeString());
}

function polyline(svg, series, cls, max) {
  const n = series.length;
  if (n < 2) return '';
  const pts = series.map((v, i) => `${(i / (n - 1) * 600).toFixed(1)},${(78 - (v / max) * 74).toFixed(1)}`).join(' ');
  return `<polyline class="${cls}" points="${pts}"/>`;
}

function chart(id, seriesList) {
  const max = Math.max(1, ...seriesList.flat());
  $(id).innerHTML = seriesList.map((s, i) => polyline($(id), s, 's' + i, max)).join('');
}

function drawHistory(h) {
  chart('chart-lag', [h.map((x) => x.lag_millis)]);
  chart('chart-sync', [h.map((x) => x.sync_sent_per_second), h.map((x) => x.sync_received_per_second)]);
  chart('chart-pps', [h.map((x) => x.packets_per_second)]);
  const last = h[h.length - 1];
  if (last) {
    text('lag-now', `now ${last.lag_millis} ms`);
    text('rate-now', `now ${Math.round(last.sync_sent_per_second)} · ${Math.round(last.sync_received_per_second)}`);
    text('pps-now', `now ${Math.round(last.packets_per_second)}`);
  }
}

function cell(row, value, cls) {
  const td = document.createElement('td'); td.textContent = value; if (cls) td.className = cls; row.appendChild(td);
}

function drawServices(services) {
  const rows = [];
  for (const s of services) {
    s.backends.forEach((b, i) => {
      const tr = document.createElement('tr');
      cell(tr, i === 0 ? `${s.name} (${s.flows} flows)` : '');
      cell(tr, i === 0 ? `${s.vip}/${s.protocol}` : '');
      cell(tr, b.address);
      cell(tr, b.weight, 'num');
      cell(tr, b.drained ? 'drained' : 'serving', b.drained ? 'drained' : '');
      cell(tr, b.health);
      cell(tr, b.flows, 'num');
      rows.push(tr);
    });
  }
  $('services').tBodies[0].replaceChildren(...rows);
}

function drawEvents(events) {
  const list = $('events');
  for (const e of events) {
    const li = document.createElement('li');
    li.textContent = `${new Date(e.at_millis).toLocaleTimeString()}  ${e.kind}  ${e.message}`;
    list.prepend(li);
    lastEvent = Math.max(lastEvent, e.seq);
  }
  while (list.children.length > 200) list.lastChild.remove();
}

async function api(path) {
  const r = await fetch('api/' + path, { cache: 'no-store' });
  const body = await r.json();
  if (!body.ok) throw new Error(body.error);
  return body.result;
}

async function refresh() {
  try {
    const [status, history, services, events] = await Promise.all(
      [api('status'), api('history'), api('services'), api('events?after=' + lastEvent)]);
    drawStatus(status);
    drawHistory(history);
    drawServices(services);
    drawEvents(events);
  } catch (e) {
    $('verdict-box').className = 'verdict unknown';
    text('verdict', 'NO ANSWER');
    text('verdict-detail', 'tandemd does not answer: ' + e.message);
    text('updated', 'last attempt ' + new Date().toLocaleTimeString());
  } finally {
    setTimeout(refresh, 1000);
  }
}

refresh();
