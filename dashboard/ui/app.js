// app.js - starts the dashboard: the session (CSRF token, mode), the hash
// router, the refresh timer, the time window control, and the capture-health
// poll that feeds the header and the "your data ends earlier" notice.
'use strict';

(function () {
  const el = EW.el;
  let token = 0;          // the render in force; older ones are stale
  let timer = null;
  let paused = false;
  const HEALTH_MS = 5000;

  function nav(name) {
    const active = name === 'workload' ? 'workloads' : name;
    for (const a of document.querySelectorAll('#nav a'))
      a.classList.toggle('active', a.dataset.route === active);
  }

  // A form field being edited: a refresh now would throw the typing away.
  function editing() {
    const a = document.activeElement;
    return a && a.closest && a.closest('#main') && /^(INPUT|SELECT|TEXTAREA)$/.test(a.tagName);
  }

  async function route(isRefresh) {
    clearTimeout(timer);
    const my = ++token;
    const r = EW.parseHash();
    const view = EW.views[r.name];
    const main = document.getElementById('main');
    nav(r.name);
    if (!isRefresh) paused = false;
    if (!view) {
      EW.clear(main).appendChild(el('div', {className: 'page'}, el('h1', null, 'Not found'),
        el('p', null, 'No page here. ', el('a', {href: '#/overview'}, 'Go to the overview.'))));
      return;
    }
    if (!isRefresh) {
      EW.clear(main).appendChild(el('p', {className: 'loading'}, 'Loading…'));
      window.scrollTo(0, 0);
    }
    const ctx = {
      rest: r.rest,
      stale: () => my !== token,
      refresh: () => route(true),
      pause: () => { paused = true; clearTimeout(timer); },
    };
    const t0 = performance.now();
    try {
      await view.render(main, r.params, ctx);
      if (!ctx.stale()) document.body.dataset.rendered = r.name;
      if (!isRefresh && !ctx.stale() && performance.mark)
        performance.mark('ew-rendered-' + r.name, {detail: {ms: performance.now() - t0}});
    } catch (e) {
      if (!ctx.stale()) EW.clear(main).appendChild(EW.errorBox(e));
    }
    if (ctx.stale() || paused || !view.refresh) return;
    // Long windows cost the server seconds to sum up: poll them less often.
    const every = Math.max(view.refresh, EW.windowS > 21600 ? 60000 : EW.windowS > 3600 ? 15000 : 0);
    const again = () => {
      if (my !== token || paused) return;
      if (document.hidden || editing()) { timer = setTimeout(again, every); return; }
      route(true);
    };
    timer = setTimeout(again, every);
  }

  function setAnchor(a) {
    EW.anchor = a;
    sessionStorage.setItem('ew.anchor', a);
  }

  function showAnchor() {
    const a = document.getElementById('anchor');
    EW.clear(a);
    if (EW.anchor === 'data' && EW.health && EW.health.database.newest_flow) {
      const back = el('button', {type: 'button', className: 'link'}, 'back to now');
      back.addEventListener('click', () => { setAnchor('now'); showAnchor(); route(false); });
      EW.append(a, ['until end of data (' + EW.local(EW.health.database.newest_flow) + ') ', back]);
    } else {
      a.textContent = 'until now';
    }
  }

  // Replayed captures end in the past: say so, and offer their last window.
  function showNotice(h) {
    const n = document.getElementById('notice');
    const newest = h && h.database && h.database.newest_flow ? EW.parseTime(h.database.newest_flow) : NaN;
    if (EW.anchor === 'now' && isFinite(newest) && newest < Date.now() - EW.windowS * 1000) {
      const go = el('button', {type: 'button', id: 'jump-to-data'}, 'Show the last stretch of stored data');
      go.addEventListener('click', () => { setAnchor('data'); showAnchor(); showNotice(EW.health); route(false); });
      EW.clear(n).appendChild(el('span', null, 'Nothing was recorded in the selected window: the newest stored flow ended ',
        el('strong', {title: h.database.newest_flow}, EW.rel(newest)), '. ', go));
      n.hidden = false;
    } else {
      n.hidden = true;
    }
  }

  async function pollHealth() {
    try {
      const h = await EW.api('/api/health');
      EW.health = h;
      const m = document.getElementById('mode');
      m.textContent = h.running ? 'live' : 'standalone';
      m.className = 'badge ' + (h.running ? 'live' : 'standalone');
      m.title = h.message;
      document.getElementById('dbpath').textContent = h.database.path;
      showNotice(h);
      showAnchor();
      const v = EW.views[EW.parseHash().name];
      if (v && v.onHealth) v.onHealth(h);
    } catch (e) {
      const m = document.getElementById('mode');
      m.textContent = 'unreachable';
      m.className = 'badge bad';
    }
    setTimeout(pollHealth, HEALTH_MS);
  }

  async function start() {
    try {
      EW.session = await EW.api('/api/session');
    } catch (e) {
      EW.clear(document.getElementById('main')).appendChild(EW.errorBox(e));
      return;
    }
    if (EW.session.auth === 'session') {
      const lo = document.getElementById('logout');
      lo.hidden = false;
      lo.addEventListener('click', async () => {
        try { await EW.api('/logout', null, {method: 'POST'}); } catch (e) { /* gone anyway */ }
        location.href = '/login';
      });
    }
    // The window and its end survive reloads of this tab (not other tabs).
    const range = document.getElementById('range');
    const savedS = Number(sessionStorage.getItem('ew.windowS'));
    if ([...range.options].some(o => Number(o.value) === savedS)) {
      EW.windowS = savedS;
      range.value = String(savedS);
    }
    if (sessionStorage.getItem('ew.anchor') === 'data') EW.anchor = 'data';
    range.addEventListener('change', () => {
      EW.windowS = Number(range.value) || 3600;
      sessionStorage.setItem('ew.windowS', String(EW.windowS));
      showNotice(EW.health);
      route(false);
    });
    document.getElementById('live').textContent = '● live';
    window.addEventListener('hashchange', () => route(false));
    await pollHealth();
    route(false);
  }

  document.addEventListener('DOMContentLoaded', start);
})();
