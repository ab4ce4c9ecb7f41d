// dash_render.js - time to first render of each dashboard page in Chromium
// (playwright-core), for bench/dashboard.sh.  For every page: a fresh load
// (new tab, so nothing is cached in the page), then the time from the start
// of navigation to the UI's own "ew-rendered-<page>" performance mark, which
// app.js sets once the page's data is drawn.  Prints one line per page with
// the median and the slowest of RUNS loads.
//
//   EW_URL=http://127.0.0.1:PORT EW_SOURCE=... node bench/dash_render.js [RUNS]
'use strict';

const path = require('path');
const fs = require('fs');
const os = require('os');
const { chromium } = require(path.join(process.env.EW_SOURCE, 'node_modules', 'playwright-core'));

const BASE = process.env.EW_URL.replace(/\/$/, '');
const RUNS = Number(process.argv[2] || 5);

(async () => {
  const udd = fs.mkdtempSync(path.join(os.tmpdir(), 'ew-bench-chromium-'));
  const ctx = await chromium.launchPersistentContext(udd, {
    executablePath: '/usr/bin/chromium', headless: true, viewport: {width: 1440, height: 900},
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic',
           '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  // The database ends when it was generated: anchor the window at its end,
  // as a user does with the "show the last stretch of stored data" button.
  await ctx.addInitScript(() => sessionStorage.setItem('ew.anchor', 'data'));
  const probe = await ctx.newPage();
  const health = await (await probe.request.get(BASE + '/api/health')).json();
  const alerts = await (await probe.request.get(BASE + '/api/alerts?limit=1')).json();
  const top = await (await probe.request.get(BASE + '/api/top?by=workload&since=' +
    encodeURIComponent(new Date(Date.parse(health.database.newest_flow) - 3600e3).toISOString()) +
    '&until=' + encodeURIComponent(health.database.newest_flow))).json();
  await probe.close();
  const wl = top.rows[0].workload;
  const pages = [
    ['overview', 'overview'],
    ['alerts', 'alerts'],
    ['alerts/' + alerts.alerts[0].id, 'alerts'],
    ['flows', 'flows'],
    ['flows?limit=10000', 'flows'],
    ['workloads', 'workloads'],
    ['workload/' + wl, 'workload'],
    ['policy', 'policy'],
    ['health', 'health'],
  ];
  for (const [hash, name] of pages) {
    const times = [];
    for (let i = 0; i < RUNS; i++) {
      const page = await ctx.newPage();
      await page.goto(BASE + '/#/' + hash);
      await page.waitForFunction(n => document.body.dataset.rendered === n, name, {timeout: 120000});
      const ms = await page.evaluate(n => {
        const m = performance.getEntriesByName('ew-rendered-' + n)[0];
        return m ? m.startTime : NaN;
      }, name);
      times.push(ms);
      await page.close();
    }
    times.sort((a, b) => a - b);
    console.log(`render ${('#/' + hash).padEnd(28)} median ${times[Math.floor(times.length / 2)].toFixed(0).padStart(6)} ms` +
                `   max ${times[times.length - 1].toFixed(0).padStart(6)} ms`);
  }
  await ctx.close();
  fs.rmSync(udd, {recursive: true, force: true});
})().catch(e => { console.error(e); process.exit(1); });
