// overview.js - the first page: traffic over time, alerts by severity,
// the open alerts, top talkers, destinations, countries and ports, and the
// state of capture.  One /api/overview answer feeds everything but health.
'use strict';

(function () {
  const el = EW.el;

  function statCard(label, value, sub, cls) {
    return el('div', {className: 'stat ' + (cls || '')},
      el('div', {className: 'stat-label'}, label),
      el('div', {className: 'stat-value'}, value),
      sub ? el('div', {className: 'stat-sub'}, sub) : null);
  }

  function sum(a) { return (a || []).reduce((x, y) => x + y, 0); }

  function topTable(rows, key, label, link) {
    if (!rows.length) return EW.empty('No traffic in this window.');
    const max = Math.max(...rows.map(r => r.bytes_sent + r.bytes_received));
    return EW.table([
      {title: label, cell: key},
      {title: 'Sent', className: 'num', cell: r => EW.bytes(r.bytes_sent)},
      {title: 'Received', className: 'num', cell: r => EW.bytes(r.bytes_received)},
      {title: '', className: 'barcell', cell: r => EW.bar(r.bytes_sent + r.bytes_received, max)},
    ], rows, {className: 'compact', onRow: link});
  }

  function remoteCell(r) {
    return el('span', null, el('span', {className: 'mono'}, r.remote_ip),
      r.remote_name ? el('span', {className: 'sub'}, ' ' + r.remote_name) : null,
      r.remote_country ? el('span', null, ' ', EW.country(r.remote_country)) : null);
  }

  function alertsBySeverity(s, all) {
    const box = el('div', {className: 'sevgrid'});
    for (const sev of ['critical', 'warning', 'info']) {
      const open = all[sev].open;
      box.appendChild(el('a', {className: 'sevbox sev-' + sev + (open ? '' : ' zero'),
                               href: '#/alerts' + EW.qs({severity: sev, acknowledged: 'false'})},
        el('span', {className: 'sevbox-n'}, EW.num(open)),
        el('span', {className: 'sevbox-l'}, sev + ' open'),
        el('span', {className: 'sevbox-s'}, EW.num(s[sev].open + s[sev].acknowledged) + ' seen in window')));
    }
    return box;
  }

  function healthCard(h) {
    if (!h) return EW.empty('Loading…');
    const parts = [];
    parts.push(el('p', {className: h.running ? 'ok' : 'warn'},
      el('strong', null, h.running ? 'Capture running. ' : 'Capture not running. '), h.message));
    const ifs = h.agent && Array.isArray(h.agent.interfaces) ? h.agent.interfaces : [];
    if (ifs.length) {
      const drops = ifs.reduce((a, i) => a + (i.kernel_drops || 0) + (i.if_drops || 0), 0);
      const pk = ifs.reduce((a, i) => a + (i.received || 0), 0);
      parts.push(el('p', null, EW.num(ifs.length) + ' interfaces, ' + EW.num(pk) + ' packets, ',
        el('span', {className: drops ? 'bad' : ''}, EW.num(drops) + ' dropped')));
    }
    if (h.agent && h.agent.decode_errors && typeof h.agent.decode_errors === 'object') {
      const n = Object.values(h.agent.decode_errors).reduce((a, v) => a + (typeof v === 'number' ? v : 0), 0);
      parts.push(el('p', null, EW.num(n) + ' decode errors'));
    }
    const db = h.database;
    if (db) parts.push(el('p', {className: 'muted'}, 'Newest flow ',
      db.newest_flow ? EW.timeCell(db.newest_flow, true) : 'none', ' · ', EW.bytes(db.file_bytes), ' on disk'));
    parts.push(el('a', {href: '#/health'}, 'Capture details →'));
    return el('div', null, parts);
  }

  async function render(main, params, ctx) {
    const w = EW.window();
    const q = Object.assign({}, w, params.workload ? {workload: params.workload} : {});
    const data = await EW.api('/api/overview', q);
    if (ctx.stale()) return;
    const totalSent = sum(data.series.bytes_sent), totalRecv = sum(data.series.bytes_received);
    const all = data.alerts_all_time;
    const open = all.critical.open + all.warning.open + all.info.open + all.other.open;

    const chartBox = el('div', {className: 'chart'});
    const page = el('div', {className: 'page overview'},
      el('div', {className: 'stats'},
        statCard('Sent', EW.bytes(totalSent), 'by workloads, in the window', 'sent'),
        statCard('Received', EW.bytes(totalRecv), null, 'recv'),
        statCard('Flows started', EW.num(sum(data.series.flows))),
        statCard('Open alerts', EW.num(open), all.critical.open ? all.critical.open + ' critical' : 'none critical',
                 all.critical.open ? 'crit' : '')),
      EW.card('Traffic', chartBox),
      el('div', {className: 'cols'},
        EW.card('Alerts', alertsBySeverity(data.alerts_by_severity, all),
          data.recent_alerts.length ? EW.table([
            {title: '', cell: a => EW.sevPill(a.severity)},
            {title: 'Alert', cell: a => el('span', {className: 'msg'}, a.message)},
            {title: 'Workload', cell: a => EW.workloadLink(a.workload)},
            {title: 'Last seen', cell: a => el('span', {title: a.last_seen}, EW.rel(a.last_seen))},
          ], data.recent_alerts, {className: 'compact', onRow: a => EW.go('alerts', [String(a.id)])})
            : EW.empty('No open alerts.')),
        EW.card('Capture', el('div', {id: 'ov-health'}, healthCard(EW.health)))),
      el('div', {className: 'cols3'},
        EW.card('Top talkers', topTable(data.top_workloads, r => EW.workloadLink(r.workload), 'Workload',
          r => r.workload && EW.go('workload', r.workload.split('/')))),
        EW.card('Top destinations', topTable(data.top_remotes, remoteCell, 'Remote (egress)',
          r => EW.go('flows', [], {remote: r.remote_ip, direction: 'egress'}))),
        EW.card('Countries and ports', topTable(data.top_countries,
          r => r.country ? EW.country(r.country) : el('span', {className: 'muted'}, 'unknown / private'), 'Country',
          r => EW.go('flows', [], {country: r.country || 'none', direction: 'egress'})),
          topTable(data.top_ports, r => r.proto + '/' + r.port, 'Port',
            r => EW.go('flows', [], {port: r.port, proto: r.proto, direction: 'egress'})))));
    EW.clear(main).appendChild(page);
    EW.chart(chartBox, data.series);
  }

  EW.register('overview', {render, refresh: 5000, onHealth: h => {
    const box = document.getElementById('ov-health');
    if (box) EW.clear(box).appendChild(healthCard(h));
  }});
})();
