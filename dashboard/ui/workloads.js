// workloads.js - every workload with what it talked to, and one workload:
// its identity and labels, bytes over time, destinations (ports, names,
// countries) and its alerts.
'use strict';

(function () {
  const el = EW.el;

  // Egress: where it went (remote:port); ingress: who came in, to which port.
  function destLabel(d) {
    return d.direction === 'egress' ? (d.remote_name || d.remote_ip) + ':' + d.port
      : (d.remote_name || d.remote_ip) + ' → :' + d.port;
  }

  async function renderList(main, params, ctx) {
    const w = EW.window();
    const data = await EW.api('/api/workloads', {since: w.since, until: w.until});
    if (ctx.stale()) return;
    const filter = (params.q || '').toLowerCase();
    const rows = data.workloads.filter(x => !filter || (x.workload || '').toLowerCase().includes(filter));
    rows.sort((a, b) => (b.bytes_sent + b.bytes_received) - (a.bytes_sent + a.bytes_received));
    const max = rows.length ? Math.max(...rows.map(r => r.bytes_sent)) : 0;
    const search = el('input', {placeholder: 'filter by name', value: params.q || '', id: 'wl-filter'});
    search.addEventListener('change', () => EW.go('workloads', [], {q: search.value.trim()}));
    EW.clear(main).appendChild(el('div', {className: 'page'},
      el('h1', null, 'Workloads'),
      el('div', {className: 'toolbar'}, search, el('span', {className: 'muted'},
        ' ' + rows.length + ' workloads; traffic in the window (top right)')),
      EW.card(null, rows.length ? EW.table([
        {title: 'Workload', cell: r => el('div', null, EW.workloadLink(r.workload),
          r.info && r.info.kind ? el('div', {className: 'sub'}, r.info.kind + (r.info.runtime ? ' · ' + r.info.runtime : '')) : null)},
        {title: 'Sent', className: 'num', cell: r => EW.bytes(r.bytes_sent)},
        {title: '', className: 'barcell', cell: r => EW.bar(r.bytes_sent, max, 'sent')},
        {title: 'Received', className: 'num', cell: r => EW.bytes(r.bytes_received)},
        {title: 'Flows', className: 'num', cell: r => EW.num(r.flows)},
        {title: 'Top destinations', cell: r => el('div', {className: 'chips'},
          r.top_destinations.filter(d => d.direction === 'egress').slice(0, 3).map(d =>
            el('span', {className: 'chip', title: d.remote_ip + ' · ' + EW.bytes(d.bytes_sent) + ' sent'}, destLabel(d))),
          r.destinations > 3 ? el('span', {className: 'muted'}, '+' + (r.destinations - 3)) : null)},
        {title: 'Ports', cell: r => r.ports.map(p => p.proto + '/' + p.port).join(' ')},
        {title: 'Countries', cell: r => el('span', null, r.countries.map(c => EW.country(c)))},
        {title: 'Last seen', cell: r => r.info && r.info.last_seen ? el('span', {title: r.info.last_seen}, EW.rel(r.info.last_seen)) : '–'},
      ], rows, {onRow: r => r.workload && EW.go('workload', r.workload.split('/'))}) : EW.empty('No workloads known.'))));
  }

  function labels(obj) {
    if (!obj || typeof obj !== 'object') return '–';
    const keys = Object.keys(obj);
    if (!keys.length) return '–';
    return el('div', {className: 'chips'}, keys.map(k =>
      el('span', {className: 'chip label'}, k + '=' + (typeof obj[k] === 'string' ? obj[k] : JSON.stringify(obj[k])))));
  }

  function fact(label, ...v) { return [el('dt', null, label), el('dd', null, ...v)]; }

  async function renderOne(main, ref, params, ctx) {
    const w = EW.window();
    const win = {since: params.since || w.since, until: params.until || w.until};
    const path = '/api/workloads/' + ref.split('/').map(encodeURIComponent).join('/');
    const [data, series] = await Promise.all([
      EW.api(path, win), EW.api('/api/series', Object.assign({workload: ref}, win))]);
    if (ctx.stale()) return;
    const info = data.info;
    const chartBox = el('div', {className: 'chart'});
    const flowsLink = extra => '#/flows' + EW.qs(Object.assign({workload: ref, since: win.since, until: win.until}, extra));
    const maxD = data.destinations.length ? Math.max(...data.destinations.map(d => d.bytes_sent + d.bytes_received)) : 0;

    EW.clear(main).appendChild(el('div', {className: 'page workload'},
      el('p', {className: 'crumbs'}, el('a', {href: '#/workloads'}, '← Workloads')),
      el('h1', null, ref, info ? el('span', {className: 'sub'}, ' ' + (info.kind || '')) : null),
      el('div', {className: 'stats'},
        el('div', {className: 'stat sent'}, el('div', {className: 'stat-label'}, 'Sent'),
           el('div', {className: 'stat-value'}, EW.bytes(data.totals.bytes_sent))),
        el('div', {className: 'stat recv'}, el('div', {className: 'stat-label'}, 'Received'),
           el('div', {className: 'stat-value'}, EW.bytes(data.totals.bytes_received))),
        el('div', {className: 'stat'}, el('div', {className: 'stat-label'}, 'Flows'),
           el('div', {className: 'stat-value'}, EW.num(data.totals.flows))),
        el('div', {className: 'stat'}, el('div', {className: 'stat-label'}, 'Destinations'),
           el('div', {className: 'stat-value'}, EW.num(data.destinations.length)))),
      EW.card('Bytes over time', chartBox),
      el('div', {className: 'cols'},
        EW.card('Identity', info ? el('dl', {className: 'facts'},
          fact('Namespace', info.namespace || '–'), fact('Name', info.name),
          fact('Kind', info.kind || '–'), fact('Runtime', info.runtime || '–'),
          fact('Pod UID', el('span', {className: 'mono'}, info.pod_uid || '–')),
          fact('Container', el('span', {className: 'mono'}, info.container_id ? info.container_id.slice(0, 12) : '–')),
          fact('Interface', info.interface || '–'),
          fact('Addresses', Array.isArray(info.ips) ? info.ips.join(', ') : '–'),
          fact('Labels', labels(info.labels)),
          fact('First seen', EW.timeCell(info.first_seen)), fact('Last seen', EW.timeCell(info.last_seen, true)))
          : EW.empty('Not in the workload inventory: known from its flows only.')),
        EW.card('Ports and countries',
          data.ports.length ? EW.table([
            {title: 'Port', cell: p => el('a', {href: flowsLink({port: p.port, proto: p.proto, direction: 'egress'})}, p.proto + '/' + p.port)},
            {title: 'Destinations', className: 'num', cell: p => EW.num(p.destinations)},
            {title: 'Sent', className: 'num', cell: p => EW.bytes(p.bytes_sent)},
            {title: 'Received', className: 'num', cell: p => EW.bytes(p.bytes_received)},
          ], data.ports, {className: 'compact'}) : EW.empty('No outbound ports in this window.'),
          data.countries.length ? EW.table([
            {title: 'Country', cell: c => c.country ? EW.country(c.country) : el('span', {className: 'muted'}, 'unknown / private')},
            {title: 'Destinations', className: 'num', cell: c => EW.num(c.destinations)},
            {title: 'Sent', className: 'num', cell: c => EW.bytes(c.bytes_sent)},
          ], data.countries, {className: 'compact'}) : null)),
      EW.card('Destinations', data.destinations.length ? EW.table([
        {title: 'Remote', cell: d => el('span', null, el('span', {className: 'mono'},
          d.direction === 'egress' ? EW.hostport(d.remote_ip, d.port) : EW.hostport(d.remote_ip) + ' → :' + d.port),
          d.remote_name ? el('div', {className: 'sub'}, d.remote_name) : null)},
        {title: 'Proto', cell: d => d.proto},
        {title: 'Dir', cell: d => d.direction},
        {title: 'Country', cell: d => el('span', null, EW.country(d.remote_country), d.remote_asn ? ' AS' + d.remote_asn : '')},
        {title: 'Sent', className: 'num', cell: d => EW.bytes(d.bytes_sent)},
        {title: 'Received', className: 'num', cell: d => EW.bytes(d.bytes_received)},
        {title: '', className: 'barcell', cell: d => EW.bar(d.bytes_sent + d.bytes_received, maxD)},
        {title: 'Flows', className: 'num', cell: d => EW.num(d.flows)},
        {title: 'Last seen', cell: d => el('span', {title: d.last_seen}, EW.rel(d.last_seen))},
        {title: '', cell: d => el('a', {href: flowsLink({remote: d.remote_ip, port: d.port, direction: d.direction})}, 'flows')},
      ], data.destinations) : EW.empty('No traffic in this window.')),
      EW.card('Alerts', data.alerts.length ? EW.table([
        {title: '', cell: a => EW.sevPill(a.severity)},
        {title: 'Alert', cell: a => el('span', {className: 'msg'}, a.message)},
        {title: 'Sent', className: 'num', cell: a => EW.bytes(a.bytes_sent)},
        {title: 'Last seen', cell: a => EW.rel(a.last_seen)},
        {title: 'Status', cell: a => a.acknowledged ? 'acknowledged' : el('span', {className: 'pill open'}, 'open')},
      ], data.alerts, {className: 'compact', onRow: a => EW.go('alerts', [String(a.id)])}) : EW.empty('No alerts for this workload.'))));
    EW.chart(chartBox, series.series);
  }

  EW.register('workloads', {render: renderList, refresh: 10000});
  EW.register('workload', {render: (main, params, ctx) => renderOne(main, ctx.rest.join('/'), params, ctx), refresh: 10000});
})();
