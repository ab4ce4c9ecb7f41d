// policy.js - the policy page (loaded rules and their hits from the agent;
// rules named by alerts and flow verdicts from the database) and the capture
// health page (every counter group the agent reports).
'use strict';

(function () {
  const el = EW.el;

  // Columns for an array of objects whose members we do not know in
  // advance: the union of their scalar members, "name" first.
  function genericTable(rows) {
    const keys = [];
    for (const r of rows) for (const [k, v] of Object.entries(r))
      if ((v === null || typeof v !== 'object') && !keys.includes(k)) keys.push(k);
    keys.sort((a, b) => (a === 'name' ? -1 : b === 'name' ? 1 : 0));
    return EW.table(keys.map(k => ({
      title: k.replace(/_/g, ' '),
      className: rows.some(r => typeof r[k] === 'number') ? 'num' : '',
      cell: r => typeof r[k] === 'number' ? EW.num(r[k]) : (r[k] === null || r[k] === undefined ? '–' : String(r[k])),
    })), rows, {className: 'compact'});
  }

  async function renderPolicy(main, params, ctx) {
    const w = EW.window();
    const data = await EW.api('/api/policy', {since: params.since || w.since, until: params.until || w.until});
    if (ctx.stale()) return;
    const pol = data.policy;
    const loaded = pol && Array.isArray(pol.rules)
      ? EW.card('Loaded rules' + (pol.source ? ' (' + pol.source + ')' : ''),
          pol.mode ? el('p', null, 'Mode: ', el('strong', null, String(pol.mode))) : null,
          pol.rules.length ? genericTable(pol.rules) : EW.empty('The policy has no rules.'))
      : EW.card('Loaded rules', el('p', {className: 'warn'}, data.message ||
          'The running agent did not report its rules.'));
    const maxHits = data.rules.length ? Math.max(...data.rules.map(r => r.hits)) : 0;
    EW.clear(main).appendChild(el('div', {className: 'page'},
      el('h1', null, 'Policy'),
      loaded,
      EW.card('Rules that fired (from alerts in the window)', data.rules.length ? EW.table([
        {title: 'Rule', cell: r => r.rule ? el('a', {href: '#/alerts' + EW.qs({rule: r.rule, kind: r.kind})}, r.rule)
          : el('a', {href: '#/alerts' + EW.qs({kind: r.kind})}, '(no rule)')},
        {title: 'Kind', cell: r => r.kind},
        {title: 'Severity', cell: r => EW.sevPill(r.severity)},
        {title: 'Hits', className: 'num', cell: r => EW.num(r.hits)},
        {title: '', className: 'barcell', cell: r => EW.bar(r.hits, maxHits)},
        {title: 'Alerts', className: 'num', cell: r => EW.num(r.alerts)},
        {title: 'Open', className: 'num', cell: r => EW.num(r.unacknowledged)},
        {title: 'Bytes sent', className: 'num', cell: r => EW.bytes(r.bytes_sent)},
        {title: 'Last hit', cell: r => el('span', {title: r.last_seen}, EW.rel(r.last_seen))},
      ], data.rules) : EW.empty('No alerts in this window.')),
      EW.card('Flow verdicts in the window', data.verdicts.length ? EW.table([
        {title: 'Verdict', cell: v => EW.verdictPill(v.verdict)},
        {title: 'Flows', className: 'num', cell: v => EW.num(v.flows)},
        {title: 'Sent', className: 'num', cell: v => EW.bytes(v.bytes_sent)},
        {title: 'Received', className: 'num', cell: v => EW.bytes(v.bytes_received)},
        {title: '', cell: v => el('a', {href: '#/flows' + EW.qs({verdict: v.verdict || 'none', since: data.since, until: data.until})}, 'flows →')},
      ], data.verdicts, {className: 'compact'}) : EW.empty('No flows in this window.'))));
  }

  function counterGroup(name, obj) {
    const rows = Object.entries(obj).filter(([, v]) => typeof v === 'number' || typeof v === 'boolean');
    if (!rows.length) return null;
    const isErr = /error|drop|invalid|truncated|refused|evicted|full/;
    return EW.card(name.replace(/_/g, ' '), el('dl', {className: 'facts counters'},
      rows.map(([k, v]) => [el('dt', null, k.replace(/_/g, ' ')),
        el('dd', {className: 'num' + (isErr.test(k) && v ? ' bad' : '')}, typeof v === 'number' ? EW.num(v) : String(v))])));
  }

  async function renderHealth(main, params, ctx) {
    const h = await EW.api('/api/health');
    if (ctx.stale()) return;
    EW.health = h;
    const a = h.agent;
    const groups = [];
    if (a && typeof a === 'object')
      for (const [k, v] of Object.entries(a))
        if (v && typeof v === 'object' && !Array.isArray(v) && k !== 'config') groups.push(counterGroup(k, v));
    const ifs = a && Array.isArray(a.interfaces) ? a.interfaces : [];
    const db = h.database;
    EW.clear(main).appendChild(el('div', {className: 'page'},
      el('h1', null, 'Capture'),
      el('div', {className: 'banner ' + (h.running ? 'ok' : 'warn'), id: 'capture-state'},
        el('strong', null, h.running ? 'Capture is running. ' : 'Capture is not running. '), h.message),
      ifs.length ? EW.card('Interfaces', genericTable(ifs)) : null,
      el('div', {className: 'cols3'}, groups),
      EW.card('Database', el('dl', {className: 'facts'},
        el('dt', null, 'File'), el('dd', {className: 'mono'}, db.path),
        el('dt', null, 'Newest flow'), el('dd', null, db.newest_flow ? EW.timeCell(db.newest_flow, true) : 'none'),
        el('dt', null, 'Oldest flow'), el('dd', null, db.oldest_flow ? EW.timeCell(db.oldest_flow, true) : 'none'),
        el('dt', null, 'Size'), el('dd', null, EW.bytes(db.file_bytes) + ' (' + EW.bytes(db.used_bytes) + ' in use)'),
        el('dt', null, 'Workloads'), el('dd', null, EW.num(db.workloads)),
        el('dt', null, 'Alerts'), el('dd', null, EW.num(db.alerts) + ' (' + EW.num(db.alerts_unacknowledged) + ' open)'))),
      EW.card('Dashboard', el('dl', {className: 'facts'},
        el('dt', null, 'Up'), el('dd', null, EW.num(h.dashboard.uptime_s) + ' s'),
        el('dt', null, 'Requests'), el('dd', null, EW.num(h.dashboard.requests)),
        el('dt', null, 'Connections'), el('dd', null, EW.num(h.dashboard.connections)),
        el('dt', null, 'Authentication'), el('dd', null, h.dashboard.auth)))));
  }

  EW.register('policy', {render: renderPolicy, refresh: 10000});
  EW.register('health', {render: renderHealth, refresh: 3000});
})();
