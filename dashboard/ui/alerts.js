// alerts.js - the alert list with its filters, and one alert: what fired,
// the evidence, the flows behind it, and the acknowledge button.
'use strict';

(function () {
  const el = EW.el;

  function filterForm(params) {
    const sev = el('select', {name: 'severity'},
      ['', 'critical', 'warning', 'info'].map(v =>
        el('option', {value: v, selected: params.severity === v}, v || 'any severity')));
    const ack = el('select', {name: 'acknowledged'},
      [['', 'open and acknowledged'], ['false', 'open'], ['true', 'acknowledged']].map(([v, t]) =>
        el('option', {value: v, selected: (params.acknowledged || '') === v}, t)));
    const kind = el('input', {name: 'kind', placeholder: 'detector / kind', value: params.kind || ''});
    const rule = el('input', {name: 'rule', placeholder: 'rule', value: params.rule || ''});
    const wl = el('input', {name: 'workload', placeholder: 'namespace/name', value: params.workload || ''});
    const form = el('form', {className: 'filters'},
      el('label', null, 'Severity', sev), el('label', null, 'Status', ack),
      el('label', null, 'Kind', kind), el('label', null, 'Rule', rule), el('label', null, 'Workload', wl),
      el('button', {type: 'submit'}, 'Filter'),
      el('a', {href: '#/alerts', className: 'reset'}, 'Reset'));
    form.addEventListener('submit', ev => {
      ev.preventDefault();
      EW.go('alerts', [], {severity: sev.value, acknowledged: ack.value, kind: kind.value.trim(),
                           rule: rule.value.trim(), workload: wl.value.trim()});
    });
    return form;
  }

  function remote(a) {
    if (!a.remote_ip) return '–';
    return el('span', null, el('span', {className: 'mono'}, EW.hostport(a.remote_ip, a.remote_port)),
      a.remote_name ? el('div', {className: 'sub'}, a.remote_name) : null);
  }

  const listCols = [
    {title: 'Severity', cell: a => EW.sevPill(a.severity)},
    {title: 'Alert', cell: a => el('div', null, el('div', {className: 'msg'}, a.message),
      el('div', {className: 'sub'}, (a.kind || '') + (a.rule ? ' · ' + a.rule : '')))},
    {title: 'Workload', cell: a => EW.workloadLink(a.workload)},
    {title: 'Remote', cell: remote},
    {title: 'Sent', className: 'num', cell: a => EW.bytes(a.bytes_sent)},
    {title: 'Count', className: 'num', cell: a => EW.num(a.count)},
    {title: 'Last seen', cell: a => el('span', {title: a.last_seen + ' (UTC)'}, EW.rel(a.last_seen))},
    {title: 'Status', cell: a => a.acknowledged
      ? el('span', {className: 'pill acked', title: 'by ' + (a.ack_by || '?') + ' at ' + a.ack_time},
           a.new_since_ack ? 'acked, fired again' : 'acknowledged')
      : el('span', {className: 'pill open'}, 'open')},
  ];

  async function renderList(main, params, ctx) {
    const q = {severity: params.severity, acknowledged: params.acknowledged, kind: params.kind,
               rule: params.rule, workload: params.workload, limit: 200};
    const data = await EW.api('/api/alerts', q);
    if (ctx.stale()) return;
    const rows = data.alerts.slice();
    const tableBox = el('div');
    const more = el('button', {type: 'button', hidden: !data.next_cursor}, 'Load more');
    let cursor = data.next_cursor;
    const draw = () => EW.clear(tableBox).appendChild(rows.length
      ? EW.table(listCols, rows, {className: 'alerts', rowClass: a => a.acknowledged ? 'acked' : null,
                                  onRow: a => EW.go('alerts', [String(a.id)])})
      : EW.empty('No alerts match.'));
    more.addEventListener('click', async () => {
      const next = await EW.api('/api/alerts', Object.assign({}, q, {cursor}));
      rows.push(...next.alerts);
      cursor = next.next_cursor;
      more.hidden = !cursor;
      ctx.pause();   // the list is longer than a refresh would redraw
      draw();
    });
    draw();
    EW.clear(main).appendChild(el('div', {className: 'page'},
      el('h1', null, 'Alerts'), filterForm(params), EW.card(null, tableBox, more)));
  }

  function fact(label, ...value) {
    return [el('dt', null, label), el('dd', null, ...value)];
  }

  function flowsTable(flows) {
    return EW.table([
      {title: 'Start', cell: f => EW.timeCell(f.start)},
      {title: 'Duration', className: 'num', cell: f => EW.duration(f.start, f.end)},
      {title: 'Local', className: 'mono', cell: f => EW.hostport(f.local_ip, f.local_port)},
      {title: 'Remote', cell: f => el('span', null, el('span', {className: 'mono'}, EW.hostport(f.remote_ip, f.remote_port)),
        f.remote_name ? el('div', {className: 'sub'}, f.remote_name) : null)},
      {title: 'Dir', cell: f => f.direction},
      {title: 'Sent', className: 'num', cell: f => EW.bytes(f.bytes_sent)},
      {title: 'Received', className: 'num', cell: f => EW.bytes(f.bytes_received)},
      {title: 'State', cell: f => f.state === 'active' ? el('span', {className: 'pill open'}, 'active') : f.end_reason},
      {title: 'Verdict', cell: f => EW.verdictPill(f.verdict)},
    ], flows, {className: 'compact'});
  }

  async function renderDetail(main, id, ctx) {
    const data = await EW.api('/api/alerts/' + encodeURIComponent(id));
    if (ctx.stale()) return;
    const a = data.alert;
    const ackBtn = el('button', {type: 'button', className: 'primary', id: 'ack'}, 'Acknowledge');
    const ackMsg = el('span', {className: 'muted'});
    ackBtn.addEventListener('click', async () => {
      ackBtn.disabled = true;
      try {
        await EW.api('/api/alerts/' + encodeURIComponent(id) + '/ack', null, {method: 'POST'});
        ctx.refresh();
      } catch (e) {
        ackMsg.textContent = 'Not acknowledged: ' + e.message;
        ackBtn.disabled = false;
      }
    });
    const fq = data.flows_query || {};
    const histParams = {workload: fq.workload, remote: fq.remote, port: fq.port, since: fq.since, until: fq.until};
    const evidence = a.evidence === null || a.evidence === undefined ? null
      : el('pre', {className: 'evidence'}, JSON.stringify(a.evidence, null, 2));
    const sent = data.flows.reduce((s, f) => s + f.bytes_sent, 0);

    EW.clear(main).appendChild(el('div', {className: 'page alert-detail'},
      el('p', {className: 'crumbs'}, el('a', {href: '#/alerts'}, '← Alerts')),
      el('div', {className: 'alert-head sev-border-' + a.severity},
        EW.sevPill(a.severity),
        el('h1', {className: 'msg'}, a.message),
        a.acknowledged
          ? el('span', {className: 'pill acked'}, 'acknowledged by ' + (a.ack_by || '?') + ' ' + EW.rel(a.ack_time))
          : el('span', null, ackBtn, ' ', ackMsg)),
      el('div', {className: 'cols'},
        EW.card('What', el('dl', {className: 'facts'},
          fact('Workload', EW.workloadLink(a.workload)),
          fact('Remote', el('span', {className: 'mono'}, EW.hostport(a.remote_ip, a.remote_port)),
               a.proto ? ' ' + a.proto : ''),
          fact('Remote name', a.remote_name || '–',
               data.remote_names.length > 1 ? el('div', {className: 'sub'}, 'also: ' + data.remote_names.join(', ')) : null),
          fact('Country / AS', EW.country(a.remote_country), a.remote_asn ? ' AS' + a.remote_asn : ''),
          fact('Kind', a.kind || '–'), fact('Rule', a.rule || '–'))),
        EW.card('When and how much', el('dl', {className: 'facts'},
          fact('First seen', EW.timeCell(a.first_seen, true)),
          fact('Last seen', EW.timeCell(a.last_seen, true)),
          fact('Occurrences', EW.num(a.count)),
          fact('Bytes sent', el('strong', null, EW.bytes(a.bytes_sent)), ' (' + EW.num(a.bytes_sent) + ' B)'),
          fact('Alert id', String(a.id))))),
      evidence ? EW.card('Evidence', evidence) : null,
      EW.card('Flows behind this alert',
        el('p', {className: 'muted'}, data.flows.length + ' flow(s) of ' + (a.workload || 'any workload') +
          ' to ' + (fq.remote || '?') + (fq.port ? ':' + fq.port : '') + ', ' + EW.bytes(sent) + ' sent, between ' +
          EW.local(fq.since) + ' and ' + EW.local(fq.until) + (data.flows_truncated ? ' (first 1000 shown)' : '') + '. ',
          el('a', {href: '#/flows' + EW.qs(histParams), id: 'open-flows'}, 'Open in flow history →')),
        data.flows.length ? flowsTable(data.flows) : EW.empty('No stored flows match (retention may have removed them).'))));
  }

  EW.register('alerts', {
    refresh: 5000,
    render: (main, params, ctx) => ctx.rest.length ? renderDetail(main, ctx.rest[0], ctx) : renderList(main, params, ctx),
  });
})();
