// ew.js - what every page of the dashboard shares: building DOM nodes,
// formatting numbers and times, talking to the API, the time window and the
// router's registry.
//
// Rule of the whole UI: every string that came from the network or from a
// cluster (DNS names, pod names and labels, alert messages, evidence) reaches
// the page as text, through textContent or a text node, never as markup.
// There is no innerHTML, insertAdjacentHTML or document.write in this UI.
'use strict';

const EW = {
  views: {},          // route name -> {render(main, params, ctx)}
  session: null,      // /api/session
  health: null,       // last /api/health
  windowS: 3600,      // the time window's length
  anchor: 'now',      // 'now', or 'data': end at the newest stored flow
};

// ---- DOM ------------------------------------------------------------------

// el('a', {href: '#/x', className: 'y', onclick: fn, title: 't'}, 'text', node)
// Children that are strings become text nodes; null/false are skipped.
EW.el = function (tag, attrs, ...children) {
  const n = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') n.addEventListener(k.slice(2), v);
      else if (k === 'className') n.className = v;
      else if (k === 'text') n.textContent = String(v);
      else if (k === 'dataset') Object.assign(n.dataset, v);
      else if (k === 'hidden' || k === 'disabled' || k === 'selected' || k === 'checked') n[k] = !!v;
      else if (k === 'value') n.value = v;
      else n.setAttribute(k, String(v));
    }
  }
  EW.append(n, children);
  return n;
};

EW.append = function (n, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    n.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return n;
};

EW.clear = function (n) { n.replaceChildren(); return n; };

EW.card = function (title, ...children) {
  return EW.el('section', {className: 'card'},
    title ? EW.el('h2', null, title) : null, ...children);
};

EW.empty = function (text) { return EW.el('p', {className: 'empty'}, text); };

// A table: cols = [{title, className, cell(row) -> node|string}], rows = []
EW.table = function (cols, rows, opts) {
  opts = opts || {};
  const thead = EW.el('thead', null, EW.el('tr', null,
    cols.map(c => EW.el('th', {className: c.className}, c.title))));
  const tbody = EW.el('tbody');
  for (const r of rows) {
    const tr = EW.el('tr', {className: opts.rowClass ? opts.rowClass(r) : null},
      cols.map(c => EW.el('td', {className: c.className}, c.cell(r))));
    if (opts.onRow) {
      tr.classList.add('clickable');
      tr.addEventListener('click', ev => { if (!ev.target.closest('a,button')) opts.onRow(r); });
    }
    tbody.appendChild(tr);
  }
  return EW.el('table', {className: 'grid ' + (opts.className || '')}, thead, tbody);
};

// ---- formatting ---------------------------------------------------------

EW.bytes = function (n) {
  if (n === null || n === undefined) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0, v = Number(n);
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return (i === 0 ? String(v) : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)) + ' ' + u[i];
};

EW.num = function (n) {
  if (n === null || n === undefined) return '–';
  return Number(n).toLocaleString('en-US');
};

EW.parseTime = function (s) { return s ? Date.parse(s) : NaN; };

// "12 s ago", "5 min ago", "3 h ago", "2 d ago"; future times "in ...".
EW.rel = function (s) {
  const t = typeof s === 'number' ? s : EW.parseTime(s);
  if (!isFinite(t)) return '–';
  let d = (Date.now() - t) / 1000;
  const future = d < 0;
  d = Math.abs(d);
  let txt;
  if (d < 60) txt = Math.round(d) + ' s';
  else if (d < 3600) txt = Math.round(d / 60) + ' min';
  else if (d < 86400) txt = (d / 3600).toFixed(d < 36000 ? 1 : 0) + ' h';
  else txt = (d / 86400).toFixed(d < 864000 ? 1 : 0) + ' d';
  return future ? 'in ' + txt : txt + ' ago';
};

const pad = n => String(n).padStart(2, '0');
EW.local = function (s) {
  const t = typeof s === 'number' ? new Date(s) : new Date(EW.parseTime(s));
  if (!isFinite(t.getTime())) return '–';
  return t.getFullYear() + '-' + pad(t.getMonth() + 1) + '-' + pad(t.getDate()) + ' ' +
    pad(t.getHours()) + ':' + pad(t.getMinutes()) + ':' + pad(t.getSeconds());
};

// A time cell: local time, UTC in the tooltip, relative time below.
EW.timeCell = function (s, withRel) {
  if (!s) return '–';
  return EW.el('span', {className: 'time', title: s + ' (UTC)'}, EW.local(s),
    withRel ? EW.el('small', null, ' · ' + EW.rel(s)) : null);
};

EW.duration = function (a, b) {
  const d = (EW.parseTime(b) - EW.parseTime(a)) / 1000;
  if (!isFinite(d)) return '–';
  if (d < 1) return Math.round(d * 1000) + ' ms';
  if (d < 120) return d.toFixed(1) + ' s';
  if (d < 7200) return Math.round(d / 60) + ' min';
  return (d / 3600).toFixed(1) + ' h';
};

EW.hostport = function (ip, port) {
  if (!ip) return '–';
  const h = ip.includes(':') ? '[' + ip + ']' : ip;
  return port === null || port === undefined ? h : h + ':' + port;
};

EW.sevPill = function (sev) {
  const s = ['critical', 'warning', 'info'].includes(sev) ? sev : 'other';
  return EW.el('span', {className: 'pill sev-' + s}, sev || 'unknown');
};

EW.verdictPill = function (v) {
  const s = ['allow', 'alert', 'audit'].includes(v) ? v : 'none';
  return EW.el('span', {className: 'pill verdict-' + s}, v || 'none');
};

EW.country = function (c) {
  return c ? EW.el('span', {className: 'cc', title: 'Country (ISO 3166)'}, c) : '–';
};

EW.workloadLink = function (w) {
  if (!w) return EW.el('span', {className: 'muted'}, 'unknown');
  return EW.el('a', {className: 'wl', href: '#/workload/' + w.split('/').map(encodeURIComponent).join('/')}, w);
};

// A horizontal bar showing `v` of `max` (width set through CSSOM, which the
// Content-Security-Policy allows; style attributes it would not).
EW.bar = function (v, max, cls) {
  const b = EW.el('span', {className: 'bar ' + (cls || '')});
  b.style.width = (max > 0 ? Math.max(1, Math.round(100 * v / max)) : 0) + '%';
  return EW.el('span', {className: 'barbox'}, b);
};

// ---- URLs and the API ----------------------------------------------------

EW.qs = function (params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {}))
    if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? '?' + s : '';
};

class ApiError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
}
EW.ApiError = ApiError;

EW.api = async function (path, params, opts) {
  opts = opts || {};
  const init = {credentials: 'same-origin', headers: {'Accept': 'application/json'}};
  if (opts.method) {
    init.method = opts.method;
    if (EW.session && EW.session.csrf_token)
      init.headers['X-CSRF-Token'] = EW.session.csrf_token;
  }
  const r = await fetch(path + EW.qs(params), init);
  if (r.status === 401) {
    location.href = '/login';
    throw new ApiError(401, 'authentication required');
  }
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) throw new ApiError(r.status, (body && body.error) || ('HTTP ' + r.status));
  return body;
};

EW.errorBox = function (e) {
  return EW.el('div', {className: 'error-box'}, 'Could not load: ' + (e && e.message ? e.message : String(e)));
};

// ---- the time window ----------------------------------------------------------

// End of the window in ms: now, or the newest stored flow (for a database of
// old captures, where "the last hour" before now is empty).
EW.windowEnd = function () {
  if (EW.anchor === 'data' && EW.health && EW.health.database && EW.health.database.newest_flow) {
    const t = EW.parseTime(EW.health.database.newest_flow);
    if (isFinite(t)) return t + 1000;
  }
  return Date.now();
};

EW.window = function () {
  const until = EW.windowEnd();
  const since = until - EW.windowS * 1000;
  return {since: new Date(since).toISOString(), until: new Date(until).toISOString()};
};

// ---- routing -----------------------------------------------------------------

// "#/flows?workload=a%2Fb&port=6379" -> {name: 'flows', rest: [], params: {...}}
EW.parseHash = function () {
  const h = location.hash.replace(/^#\/?/, '');
  const qi = h.indexOf('?');
  const path = (qi >= 0 ? h.slice(0, qi) : h).split('/').filter(Boolean).map(s => {
    try { return decodeURIComponent(s); } catch (e) { return s; }
  });
  const params = {};
  if (qi >= 0) for (const [k, v] of new URLSearchParams(h.slice(qi + 1))) params[k] = v;
  return {name: path[0] || 'overview', rest: path.slice(1), params};
};

EW.go = function (name, rest, params) {
  const p = [name].concat((rest || []).map(encodeURIComponent)).join('/');
  location.hash = '#/' + p + EW.qs(params);
};

EW.register = function (name, view) { EW.views[name] = view; };
