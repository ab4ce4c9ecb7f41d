// chart.js - the traffic chart (uPlot, bundled into the binary): bytes sent
// and received per step on a time axis, with a tooltip that follows the
// cursor.  The tooltip is built with text nodes like everything else.
'use strict';

EW.chart = function (container, series, opts) {
  opts = opts || {};
  const t = series.t || [];
  const sent = series.bytes_sent || [];
  const recv = series.bytes_received || [];
  const flows = series.flows || [];
  const step = series.step || 60;

  const tip = EW.el('div', {className: 'u-tip', hidden: true});
  const tipTime = EW.el('div', {className: 'tip-time'});
  const tipSent = EW.el('div', null);
  const tipRecv = EW.el('div', null);
  const tipFlows = EW.el('div', {className: 'muted'});
  EW.append(tip, [tipTime, tipSent, tipRecv, tipFlows]);

  function tooltipPlugin() {
    return {
      hooks: {
        init: u => { u.over.appendChild(tip); },
        setCursor: u => {
          const i = u.cursor.idx;
          if (i === null || i === undefined || u.cursor.left < 0) { tip.hidden = true; return; }
          tip.hidden = false;
          tipTime.textContent = EW.local(t[i] * 1000) + ' (' + (step >= 3600 ? step / 3600 + ' h' : step / 60 + ' min') + ')';
          tipSent.textContent = 'sent ' + EW.bytes(sent[i]);
          tipRecv.textContent = 'received ' + EW.bytes(recv[i]);
          tipFlows.textContent = EW.num(flows[i]) + ' flows started';
          const w = u.over.clientWidth;
          const x = u.cursor.left, y = u.cursor.top;
          tip.style.left = (x > w - 180 ? x - 170 : x + 12) + 'px';
          tip.style.top = Math.max(0, y - 10) + 'px';
        },
      },
    };
  }

  const width = Math.max(300, container.clientWidth || 800);
  const o = {
    width: width,
    height: opts.height || 240,
    plugins: [tooltipPlugin()],
    cursor: {drag: {x: false, y: false}},
    legend: {show: true},
    scales: {x: {time: true}},
    axes: [
      {stroke: '#5b6475', grid: {stroke: '#eceef2'}},
      {stroke: '#5b6475', grid: {stroke: '#eceef2'}, size: 78,
       values: (u, vals) => vals.map(v => EW.bytes(v))},
    ],
    series: [
      {value: (u, v) => v === null ? '–' : EW.local(v * 1000)},
      {label: 'Sent', stroke: '#d9480f', fill: 'rgba(217,72,15,0.10)', width: 2, points: {show: false},
       value: (u, v) => v === null ? '–' : EW.bytes(v)},
      {label: 'Received', stroke: '#1c6dd0', fill: 'rgba(28,109,208,0.08)', width: 2, points: {show: false},
       value: (u, v) => v === null ? '–' : EW.bytes(v)},
    ],
  };
  const plot = new uPlot(o, [t, sent, recv], container);
  const onResize = () => {
    if (!container.isConnected) { window.removeEventListener('resize', onResize); return; }
    plot.setSize({width: Math.max(300, container.clientWidth), height: o.height});
  };
  window.addEventListener('resize', onResize);
  return plot;
};
