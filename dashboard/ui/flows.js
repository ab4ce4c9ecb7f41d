// flows.js - flow history: search across days with every filter of
// /api/flows, server-side sort by start or bytes, keyset pages of up to
// 10,000 rows, CSV / JSON-lines export.
//
// The table is windowed: all rows of the page live in a JS array, and only
// the rows in view (plus a margin) exist as DOM nodes, moved as one block
// while scrolling.  A page of 10,000 rows thus costs about 60 row nodes.
'use strict';

(function () {
  const el = EW.el;
  const ROW_H = 30;        // px; matches .vt-row in app.css
  const OVERSCAN = 12;

  const FIELDS = [
    // [param, label, placeholder, width class]
    ['workload', 'Workload', 'namespace/name', 'w-wide'],
    ['namespace', 'Namespace', 'prod', ''],
    ['remote', 'Remote', 'CIDR or address', ''],
    ['name', 'Remote name', 'substring or *.glob', ''],
    ['port', 'Port', '6379', 'w-narrow'],
    ['country', 'Country', 'NL, none', 'w-narrow'],
    ['since', 'Since', '-1h or 2026-01-31T10:00Z', ''],
    ['until', 'Until', 'now', ''],
  ];
  const SELECTS = [
    ['proto', 'Proto', ['', 'tcp', 'udp', 'icmp', 'ipv6-icmp']],
    ['direction', 'Direction', ['', 'egress', 'ingress']],
    ['verdict', 'Verdict', ['', 'allow', 'alert', 'audit', 'none']],
    ['limit', 'Page size', ['1000', '100', '10000']],
  ];

  const COLS = [
    {key: 'start', title: 'Start', sort: 'start', cell: f => el('span', {title: f.start + ' (UTC)'}, EW.local(f.start))},
    {key: 'workload', title: 'Workload', cell: f => EW.workloadLink(f.workload)},
    {key: 'dir', title: 'Dir', cell: f => f.direction === 'egress' ? '→ out' : '← in'},
    {key: 'proto', title: 'Proto', cell: f => f.proto},
    {key: 'local', title: 'Local', cls: 'mono', cell: f => EW.hostport(f.local_ip, f.local_port)},
    {key: 'remote', title: 'Remote', cls: 'mono', cell: f => EW.hostport(f.remote_ip, f.remote_port)},
    {key: 'name', title: 'Remote name', cell: f => f.remote_name || (f.remote_workload ? f.remote_workload : '')},
    {key: 'cc', title: 'CC', cell: f => f.remote_country || ''},
    {key: 'sent', title: 'Sent', cls: 'num', sort: 'sent', cell: f => EW.bytes(f.bytes_sent)},
    {key: 'recv', title: 'Received', cls: 'num', cell: f => EW.bytes(f.bytes_received)},
    {key: 'total', title: 'Total', cls: 'num', sort: 'bytes', cell: f => EW.bytes(f.bytes_sent + f.bytes_received)},
    {key: 'dur', title: 'Duration', cls: 'num', cell: f => EW.duration(f.start, f.end)},
    {key: 'verdict', title: 'Verdict', cell: f => EW.verdictPill(f.verdict)},
  ];

  function filterParams(params) {
    const p = {};
    for (const [k] of FIELDS) if (params[k]) p[k] = params[k];
    for (const [k] of SELECTS) if (params[k]) p[k] = params[k];
    for (const k of ['sort', 'order']) if (params[k]) p[k] = params[k];
    return p;
  }

  function buildForm(params) {
    const inputs = {};
    const form = el('form', {className: 'filters flows-filters', id: 'flow-filters'});
    for (const [k, label, ph, cls] of FIELDS) {
      inputs[k] = el('input', {name: k, id: 'f-' + k, placeholder: ph, value: params[k] || '',
                               autocomplete: 'off', spellcheck: 'false'});
      form.appendChild(el('label', {className: cls}, label, inputs[k]));
    }
    for (const [k, label, opts] of SELECTS) {
      inputs[k] = el('select', {name: k, id: 'f-' + k},
        opts.map(v => el('option', {value: v, selected: (params[k] || opts[0]) === v}, v || 'any')));
      form.appendChild(el('label', null, label, inputs[k]));
    }
    form.appendChild(el('button', {type: 'submit', className: 'primary'}, 'Search'));
    form.appendChild(el('a', {href: '#/flows', className: 'reset'}, 'Reset'));
    form.addEventListener('submit', ev => {
      ev.preventDefault();
      const p = {};
      for (const k of Object.keys(inputs)) {
        const v = inputs[k].value.trim();
        if (v && !(k === 'limit' && v === '1000')) p[k] = v;
      }
      if (params.sort) p.sort = params.sort;
      if (params.order) p.order = params.order;
      EW.go('flows', [], p);
    });
    return form;
  }

  // The windowed table.  Returns the container; rows can be replaced.
  function virtualTable(rows, params) {
    const sort = params.sort || 'start', order = params.order || 'desc';
    const head = el('div', {className: 'vt-row vt-head'}, COLS.map(c => {
      if (!c.sort) return el('div', {className: 'vt-cell ' + (c.cls || '')}, c.title);
      const active = sort === c.sort;
      const next = active && order === 'desc' ? 'asc' : 'desc';
      const a = el('a', {href: '#/flows' + EW.qs(Object.assign(filterParams(params), {sort: c.sort, order: next})),
                         className: 'sort' + (active ? ' active' : ''), title: 'Sort by ' + ({bytes: 'bytes sent + received', sent: 'bytes sent', start: 'start'})[c.sort]},
        c.title + (active ? (order === 'desc' ? ' ▼' : ' ▲') : ''));
      return el('div', {className: 'vt-cell ' + (c.cls || '')}, a);
    }));
    const sizer = el('div', {className: 'vt-sizer'});
    const layer = el('div', {className: 'vt-layer'});
    const body = el('div', {className: 'vt-body', id: 'flow-table', tabindex: '0'}, sizer, layer);
    sizer.style.height = (rows.length * ROW_H) + 'px';
    let first = -1, last = -1, frame = 0;

    function draw() {
      frame = 0;
      const top = body.scrollTop, h = body.clientHeight || 600;
      const f = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
      const l = Math.min(rows.length, Math.ceil((top + h) / ROW_H) + OVERSCAN);
      if (f === first && l === last) return;
      first = f; last = l;
      const frag = document.createDocumentFragment();
      for (let i = f; i < l; i++) {
        const r = rows[i];
        frag.appendChild(el('div', {className: 'vt-row' + (r.verdict === 'alert' ? ' v-alert' : '') + (i % 2 ? ' odd' : ''),
                                    dataset: {i: String(i)}},
          COLS.map(c => el('div', {className: 'vt-cell ' + (c.cls || '')}, c.cell(r)))));
      }
      layer.style.transform = 'translateY(' + (f * ROW_H) + 'px)';
      layer.replaceChildren(frag);
    }
    body.addEventListener('scroll', () => { if (!frame) frame = requestAnimationFrame(draw); });
    const onResize = () => {
      if (!body.isConnected) { window.removeEventListener('resize', onResize); return; }
      first = -1; draw();
    };
    window.addEventListener('resize', onResize);
    const box = el('div', {className: 'vt'}, head, body);
    box.draw = () => { first = -1; draw(); };
    return box;
  }

  // Cursors of the pages before this one, so that "previous" works without
  // the server knowing anything (the cursor is keyset, not an offset).
  let pageCursors = [];

  async function render(main, params, ctx) {
    const w = EW.window();
    const q = filterParams(params);
    if (!q.since && !q.until) { q.since = w.since; q.until = w.until; }
    const limit = q.limit || '1000';
    q.limit = limit;
    if (params.cursor) q.cursor = params.cursor; else pageCursors = [];
    const t0 = performance.now();
    const data = await EW.api('/api/flows', q);
    if (ctx.stale()) return;
    const ms = Math.round(performance.now() - t0);
    const rows = data.flows;
    const sent = rows.reduce((s, f) => s + f.bytes_sent, 0);
    const recv = rows.reduce((s, f) => s + f.bytes_received, 0);

    const exportQ = Object.assign({}, q);
    delete exportQ.cursor; delete exportQ.limit;
    const csv = el('a', {className: 'button', id: 'export-csv', href: '/api/flows' + EW.qs(Object.assign({}, exportQ, {format: 'csv'})),
                         download: 'flows.csv'}, 'Export CSV');
    const jsonl = el('a', {className: 'button', id: 'export-json', href: '/api/flows' + EW.qs(Object.assign({}, exportQ, {format: 'json'})),
                           download: 'flows.jsonl'}, 'Export JSON lines');
    const prev = el('button', {type: 'button', disabled: !params.cursor}, '← Previous page');
    const next = el('button', {type: 'button', disabled: !data.next_cursor, id: 'next-page'}, 'Next page →');
    prev.addEventListener('click', () => {
      const c = pageCursors.pop();
      const p = Object.assign(filterParams(params), c ? {cursor: c} : {});
      EW.go('flows', [], p);
    });
    next.addEventListener('click', () => {
      pageCursors.push(params.cursor || '');
      EW.go('flows', [], Object.assign(filterParams(params), {cursor: data.next_cursor}));
    });
    const table = virtualTable(rows, params);
    const summary = el('p', {className: 'summary', id: 'flow-summary'},
      el('strong', null, EW.num(rows.length) + ' flows'), data.next_cursor ? ' on this page (more on the next)' : '',
      ' · ' + EW.bytes(sent) + ' sent, ' + EW.bytes(recv) + ' received · active between ',
      EW.timeCell(data.since), ' and ', EW.timeCell(data.until),
      el('span', {className: 'muted'}, ' · ' + ms + ' ms'));

    EW.clear(main).appendChild(el('div', {className: 'page flows'},
      el('h1', null, 'Flow history'),
      buildForm(params),
      el('div', {className: 'toolbar'}, summary, el('span', {className: 'spacer'}), prev, next, csv, jsonl),
      rows.length ? table : EW.empty('No flows match these filters in this window. Widen the window (top right) or the filters.')));
    if (rows.length) table.draw();
  }

  EW.register('flows', {render, refresh: 0});
})();
