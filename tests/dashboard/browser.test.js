// browser.test.js - the dashboard in a real browser (Debian's Chromium,
// driven by playwright-core), over the scenario of tests/tools/dash_fill.c.
// Run by browser.sh, which starts the servers; environment:
//   EW_URL        the dashboard without login (loopback)
//   EW_URL_AUTH   the same database behind a token; EW_TOKEN is the token
//   EW_ARTIFACTS  where the screenshots go
//
// It walks what an on-call engineer does: the overview, the alert list,
// redis-0's alert and the flows behind it, acknowledging it, flow history
// filtered by workload and port, sorted, 10,000 rows at once; the workload
// pages; policy; capture; and the login page.  Throughout, strings planted by
// a hostile pod (<script>, an attribute break-out with onerror, U+2028,
// invalid UTF-8) must show as text: no dialog may open, no CSP violation or
// console error may occur, no element may be injected, and the page may
// request nothing from any other origin.
'use strict';

const path = require('path');
const fs = require('fs');
const os = require('os');
const { chromium } = require(path.join(process.env.EW_SOURCE, 'node_modules', 'playwright-core'));

const BASE = process.env.EW_URL.replace(/\/$/, '');
const BASE_AUTH = process.env.EW_URL_AUTH.replace(/\/$/, '');
const ART = process.env.EW_ARTIFACTS;
let failures = 0, checks = 0;

function check(what, cond, detail) {
  checks++;
  if (cond) console.log('ok   ' + what);
  else { failures++; console.log('FAIL ' + what + (detail !== undefined ? ': ' + JSON.stringify(detail) : '')); }
}

async function rendered(page, name, timeout) {
  await page.waitForFunction(n => document.body.dataset.rendered === n, name, {timeout: timeout || 15000});
}

// Navigate and wait until the router has drawn the page; ms to first render.
async function open(page, hash, name) {
  const t0 = Date.now();
  await page.evaluate(() => { delete document.body.dataset.rendered; }).catch(() => {});
  await page.goto(BASE + '/#/' + hash);
  await rendered(page, name);
  return Date.now() - t0;
}

async function shot(page, file) {
  await page.screenshot({path: path.join(ART, file), fullPage: true});
}

async function noInjection(page, where) {
  const n = await page.evaluate(() => ({
    img: document.querySelectorAll('img[src="x"], img[onerror]').length,
    scripts: [...document.scripts].filter(s => !s.src).length,
    b: document.querySelectorAll('main b').length,
  }));
  check(where + ': nothing injected (no img[onerror], inline script or <b>)', n.img === 0 && n.scripts === 0 && n.b === 0, n);
}

(async () => {
  fs.mkdirSync(ART, {recursive: true});
  // playwright passes --user-data-dir itself for a persistent context: a
  // fresh temporary directory per run, removed at the end.
  const udd = fs.mkdtempSync(path.join(os.tmpdir(), 'ew-chromium-'));
  const ctx = await chromium.launchPersistentContext(udd, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: {width: 1440, height: 900},
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
           '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
  const dialogs = [], csp = [], consoleErrors = [], pageErrors = [], foreign = [];
  await ctx.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation',
      e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  page.on('dialog', d => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  let expect403 = false;   // the one request below that must be refused
  page.on('console', m => {
    if (m.type() !== 'error') return;
    if (expect403 && m.text().includes('status of 403')) return;
    consoleErrors.push(m.text());
  });
  page.on('pageerror', e => pageErrors.push(e.message));
  page.on('request', r => {
    const u = r.url();
    if (!u.startsWith(BASE) && !u.startsWith(BASE_AUTH) && !u.startsWith('data:')) foreign.push(u);
  });
  const collectCsp = async () => { try { csp.push(...await page.evaluate(() => window.__csp || [])); } catch (e) { /* navigating */ } };

  try {
    // ---- overview ----------------------------------------------------------
    const tOverview = await open(page, 'overview', 'overview');
    check('overview renders (' + tOverview + ' ms)', tOverview < 5000);
    check('overview: traffic chart drawn (uPlot canvas)', await page.locator('.chart canvas').count() >= 1);
    check('overview: redis-0\'s alert among the open ones',
      await page.getByText('redis-0 in prod opened an outbound connection to 203.0.113.66:6379 and sent 48 MiB').count() >= 1);
    check('overview: 48.0 MiB to the top destination', (await page.locator('.card', {hasText: 'Top destinations'}).innerText()).includes('48.0 MiB'));
    const box = await page.locator('.chart .u-over').boundingBox();
    await page.mouse.move(box.x + box.width * 0.8, box.y + box.height * 0.5);
    await page.waitForTimeout(200);
    check('overview: a tooltip follows the cursor on the chart',
      await page.locator('.u-tip').isVisible() && (await page.locator('.u-tip').innerText()).includes('sent'));
    await shot(page, 'overview.png');
    await noInjection(page, 'overview');
    await collectCsp();

    // ---- alerts: find it, open it, the flows behind it ------------------------
    await page.click('#nav a[data-route="alerts"]');
    await rendered(page, 'alerts');
    const row = page.locator('tr', {hasText: 'redis-0 in prod opened an outbound connection'});
    check('alerts: redis-0\'s alert listed as critical and open',
      (await row.count()) === 1 && (await row.innerText()).includes('critical') && (await row.innerText()).includes('open'));
    check('alerts: hostile strings shown as text',
      await page.getByText('<script>alert(1)</script>', {exact: false}).count() >= 1);
    await shot(page, 'alerts.png');
    await noInjection(page, 'alerts');
    await collectCsp();
    await page.evaluate(() => { delete document.body.dataset.rendered; });
    await row.click();
    await page.waitForSelector('text=Flows behind this alert');
    await rendered(page, 'alerts');
    const flowsCard = page.locator('.card', {hasText: 'Flows behind this alert'});
    const flowsText = await flowsCard.innerText();
    check('alert detail: the flow to 203.0.113.66:6379 with 48.0 MiB sent',
      flowsText.includes('203.0.113.66:6379') && flowsText.includes('48.0 MiB'), flowsText.slice(0, 300));
    check('alert detail: evidence shown', (await page.locator('pre.evidence').innerText()).includes('"datastore": "redis"'));
    await shot(page, 'alert-detail.png');
    const detailUrl = page.url();

    await page.evaluate(() => { delete document.body.dataset.rendered; });
    await page.click('#open-flows');
    await rendered(page, 'flows');
    const ffilter = await page.inputValue('#f-workload');
    const vt = await page.locator('#flow-table').innerText();
    check('"Open in flow history" carries the filters and shows the flow',
      ffilter === 'prod/redis-0' && (await page.inputValue('#f-port')) === '6379' && vt.includes('203.0.113.66:6379'), {ffilter});
    await shot(page, 'flows-from-alert.png');

    // Acknowledge from the browser: CSRF token, same-origin POST.
    await page.goto(detailUrl);
    await page.waitForSelector('#ack');
    await page.evaluate(() => { delete document.body.dataset.rendered; });
    await page.click('#ack');
    await page.waitForSelector('text=acknowledged by dashboard@127.0.0.1', {timeout: 10000});
    check('acknowledge button: the alert shows as acknowledged', true);
    await shot(page, 'alert-acknowledged.png');

    // ---- flow history: filter by workload and port, sort, big pages ----------
    await open(page, 'flows', 'flows');
    await page.fill('#f-workload', 'prod/api-0');
    await page.fill('#f-port', '6379');
    await page.fill('#f-since', '-3h');
    await page.evaluate(() => { delete document.body.dataset.rendered; });
    await page.click('#flow-filters button[type=submit]');
    await rendered(page, 'flows');
    const cells = await page.$$eval('#flow-table .vt-row', rows => rows.map(r => [...r.children].map(c => c.textContent)));
    check('flows filtered by workload and port: only prod/api-0 to :6379',
      cells.length > 10 && cells.every(c => c[1] === 'prod/api-0' && c[5].endsWith(':6379')), cells.slice(0, 2));
    check('the filters are in the address bar', page.url().includes('workload=prod%2Fapi-0') && page.url().includes('port=6379'));
    await shot(page, 'flows-filtered.png');
    await page.evaluate(() => { delete document.body.dataset.rendered; });
    await page.click('.vt-head a:has-text("Sent")');
    await rendered(page, 'flows');
    check('sorting by bytes sent from the column header', page.url().includes('sort=sent'));

    const tBig = await open(page, 'flows?since=-3h&limit=10000', 'flows');
    const summary = await page.locator('#flow-summary').innerText();
    const nodes = await page.locator('#flow-table .vt-row').count();
    check('10,000 rows: first render in ' + tBig + ' ms (< 3000)', tBig < 3000);
    check('10,000 rows: windowed, ' + nodes + ' row nodes in the DOM', summary.startsWith('10,000 flows') && nodes < 200, summary);
    const tScroll = Date.now();
    await page.$eval('#flow-table', el => { el.scrollTop = el.scrollHeight; });
    await page.waitForFunction(() => [...document.querySelectorAll('#flow-table .vt-row')].some(r => r.dataset.i === '9999'));
    check('10,000 rows: scrolling to the end draws the last row (' + (Date.now() - tScroll) + ' ms)', true);
    await shot(page, 'flows-10000.png');

    // ---- workloads ------------------------------------------------------------------
    await open(page, 'workloads', 'workloads');
    check('workloads: redis-0 with exfil.example.net:6379',
      (await page.locator('tr', {hasText: 'prod/redis-0'}).innerText()).includes('exfil.example.net:6379'));
    await shot(page, 'workloads.png');
    await noInjection(page, 'workloads');
    await page.evaluate(() => { delete document.body.dataset.rendered; });
    await page.click('a.wl:has-text("prod/redis-0")');
    await rendered(page, 'workload');
    const dest = await page.locator('.card', {has: page.locator('h2', {hasText: /^Destinations$/i})}).innerText();
    check('workload redis-0: its destination, name, country and bytes',
      dest.includes('203.0.113.66:6379') && dest.includes('exfil.example.net') && dest.includes('NL') && dest.includes('48.0 MiB'));
    check('workload redis-0: bytes over time charted', await page.locator('.chart canvas').count() >= 1);
    await shot(page, 'workload-redis-0.png');

    await open(page, 'workload/hostile/xss-0', 'workload');
    const labels = await page.locator('.chip.label').allInnerTexts();
    check('hostile labels shown as text', labels.some(l => l === 'app=<script>alert(1)</script>') &&
      labels.some(l => l.startsWith('x="><img src=x onerror=alert(1)>')), labels);
    await shot(page, 'workload-hostile.png');
    await noInjection(page, 'hostile workload');
    await collectCsp();

    await open(page, 'flows?since=-2h&workload=hostile%2Fxss-0', 'flows');
    const hostileNames = await page.$$eval('#flow-table .vt-row', rows => rows.map(r => r.children[6].textContent));
    check('hostile DNS names in flow history shown as text',
      hostileNames.includes('<script>alert(1)</script>.evil.example') && hostileNames.includes('"><img src=x onerror=alert(1)>') &&
      hostileNames.some(n => n.includes('\ufffd')) && hostileNames.some(n => n.includes('\u2028')), hostileNames);
    await noInjection(page, 'hostile flows');
    await collectCsp();

    const hostileId = await page.evaluate(async () =>
      (await (await fetch('/api/alerts?workload=hostile/xss-0')).json()).alerts[0].id);
    await open(page, 'alerts/' + hostileId, 'alerts');
    check('hostile alert: message and evidence as text',
      (await page.locator('h1.msg').innerText()).includes('<script>alert(1)</script>') &&
      (await page.locator('pre.evidence').innerText()).includes('</script><script>alert(2)</script>'));
    await shot(page, 'alert-hostile.png');
    await noInjection(page, 'hostile alert');
    await collectCsp();

    // ---- policy, capture -------------------------------------------------------------
    await open(page, 'policy', 'policy');
    check('policy: rules from alerts with their hits',
      (await page.locator('tr', {hasText: 'builtin/datastore-egress'}).innerText()).includes('3'));
    await shot(page, 'policy.png');
    await noInjection(page, 'policy');
    await open(page, 'health', 'health');
    check('capture: standalone says capture is not running',
      (await page.locator('#capture-state').innerText()).includes('Capture is not running'));
    await shot(page, 'capture.png');
    await collectCsp();

    // ---- the login page (token-protected server) -------------------------------------
    await page.goto(BASE_AUTH + '/');
    await page.waitForSelector('form.login');
    check('behind a token: the UI sends the browser to the login page', page.url().endsWith('/login'));
    await page.fill('#token', 'not-the-token-at-all');
    await page.click('form.login button');
    await page.waitForSelector('#failed:not([hidden])');
    check('a wrong token: the login page says so', await page.locator('#failed').isVisible());
    await shot(page, 'login-failed.png');
    await page.fill('#token', process.env.EW_TOKEN);
    await page.click('form.login button');
    await page.waitForFunction(() => document.body.dataset.rendered === 'overview', null, {timeout: 15000});
    check('the right token: the overview', true);
    const cookies = await ctx.cookies(BASE_AUTH);
    const sc = cookies.find(c => c.name === 'ew_session');
    check('the session cookie is HttpOnly and SameSite=Strict', sc && sc.httpOnly && sc.sameSite === 'Strict', sc);
    check('the page cannot read the session cookie', !(await page.evaluate(() => document.cookie)).includes('ew_session'));
    expect403 = true;
    const ackStatus = await page.evaluate(async () => {
      const s = await (await fetch('/api/session')).json();
      const a = (await (await fetch('/api/alerts?severity=warning')).json()).alerts[0];
      const r = await fetch('/api/alerts/' + a.id + '/ack', {method: 'POST', headers: {'X-CSRF-Token': s.csrf_token}});
      const bad = await fetch('/api/alerts/' + a.id + '/ack', {method: 'POST'});
      return [r.status, bad.status];
    });
    await page.waitForTimeout(100);
    expect403 = false;
    check('logged in: ack with the session\'s CSRF token 200, without it 403', ackStatus[0] === 200 && ackStatus[1] === 403, ackStatus);
    await page.click('#logout');
    await page.waitForSelector('form.login');
    check('log out: back to the login page', page.url().endsWith('/login'));
    await collectCsp();
  } catch (e) {
    failures++;
    console.log('FAIL the walk stopped: ' + (e && e.stack ? e.stack : e));
    try { await shot(page, 'failure.png'); } catch (e2) { /* nothing to show */ }
  }

  check('no dialog opened (alert(1) never ran)', dialogs.length === 0, dialogs);
  check('no Content-Security-Policy violation', csp.length === 0, csp);
  check('no console error', consoleErrors.length === 0, consoleErrors);
  check('no uncaught page error', pageErrors.length === 0, pageErrors);
  check('no request to any other origin', foreign.length === 0, foreign);
  await ctx.close();
  fs.rmSync(udd, {recursive: true, force: true});
  console.log(checks + ' checks, ' + failures + ' failed; screenshots in ' + ART);
  process.exit(failures ? 1 : 0);
})();
