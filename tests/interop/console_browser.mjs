// The admin console in a real browser: Debian's chromium, headless, driven
// by playwright-core. Signs in, finds the active key on the timeline,
// rotates (scheduled) and sees the next key appear, creates a client and
// gets a token with its secret from /token, revokes a key, checks the CSRF
// refusal and the cookie flags, signs out; screenshots every page at 1280
// and 390 px wide into SHOTS_DIR.
//
// usage: node console_browser.mjs ISSUER ADMIN_ID ADMIN_SECRET SHOTS_DIR
// Prints a JSON report and exits 0, or prints the error and exits 1.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

const [issuer, adminId, adminSecret, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const executablePath = execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'])
  .toString().trim();
const report = { pages: [], violations: [], overflow: [], unlabelled: [] };
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  // CSP violations (an inline script or style, an external origin) are
  // reported on the console.
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) report.violations.push(m.text()); });

  async function shoot(name) {
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: 900 });
      // The page's own height at this width (a full-page capture would
      // also take in the width of sideways-scrolling tables).
      const height = await page.evaluate(() => document.documentElement.scrollHeight);
      await page.setViewportSize({ width, height: Math.min(height, 4000) });
      await page.screenshot({ path: `${shots}/${name}-${width}.png` });
      // Nothing may make the page itself scroll sideways.
      const overflow = await page.evaluate((w) => {
        const wide = [...document.querySelectorAll('body *')]
          .filter((e) => e.getBoundingClientRect().right > w + 1 && !e.closest('.table-wrap, .timeline-wrap'))
          .map((e) => `${e.tagName.toLowerCase()}.${e.className && e.className.baseVal === undefined ? e.className : ''}`);
        return { scrollWidth: document.documentElement.scrollWidth, wide: wide.slice(0, 5) };
      }, width);
      if (overflow.scrollWidth > width || overflow.wide.length > 0) report.overflow.push({ page: name, width, ...overflow });
    }
    await page.setViewportSize({ width: 1280, height: 900 });
    // Every control has a name a screen reader can say.
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
      .filter((e) => {
        if (e.getAttribute('aria-label') || e.getAttribute('aria-labelledby')) return false;
        if (e.tagName === 'BUTTON') return e.textContent.trim() === '';
        return !e.labels || e.labels.length === 0 || [...e.labels].every((l) => l.textContent.trim() === '');
      })
      .map((e) => e.outerHTML.slice(0, 120)));
    if (unlabelled.length > 0) report.unlabelled.push({ page: name, controls: unlabelled });
    report.pages.push(name);
  }

  await page.goto(`${issuer}/console`);
  report.login_url = new URL(page.url()).pathname;
  await shoot('login');
  // Keyboard only: the labelled fields and Enter.
  await page.getByLabel('Client id').fill(adminId);
  await page.getByLabel('Client secret').fill(adminSecret);
  await page.getByLabel('Client secret').press('Enter');
  await page.waitForURL('**/console/keys');

  const cookie = (await context.cookies()).find((c) => c.name === 'tokend_console');
  report.cookie = { httpOnly: cookie.httpOnly, sameSite: cookie.sameSite, secure: cookie.secure, path: cookie.path };

  const rowsBefore = await page.locator('svg.timeline.wide g.key-row').count();
  report.active_kid = await page.locator('svg.timeline.wide g.key-row').first().getAttribute('data-kid');
  report.timeline_has_active = await page.locator('svg.timeline.wide rect.seg.active').count() > 0;
  report.timeline_has_now = await page.locator('svg.timeline.wide line.marker.now').count() === 1;
  await shoot('keys');
  // On a phone: the narrow drawing, with every key, no sideways scroll,
  // its key names at a readable size.
  await page.setViewportSize({ width: 390, height: 900 });
  report.phone_timeline = await page.evaluate(() => {
    const shown = [...document.querySelectorAll('svg.timeline')].filter((e) => e.getBoundingClientRect().width > 0);
    const wrap = document.querySelector('.timeline-wrap');
    const names = shown.length === 1 ? [...shown[0].querySelectorAll('text.kid')] : [];
    return {
      shown: shown.map((e) => e.getAttribute('class')),
      rows: names.length,
      scrolls: wrap.scrollWidth > wrap.clientWidth,
      smallest_name_px: Math.min(...names.map((t) => t.getBoundingClientRect().height)),
    };
  });
  await page.setViewportSize({ width: 1280, height: 900 });

  // Rotate (scheduled): the confirmation, then the next key on the timeline.
  await page.getByRole('link', { name: 'Rotate…', exact: true }).click();
  report.rotate_explanation = await page.locator('main p').first().innerText();
  await shoot('confirm-rotate');
  await page.getByRole('button', { name: 'Rotate' }).click();
  await page.waitForURL('**/console/keys?done=rotated');
  report.rows_before = rowsBefore;
  report.rows_after = await page.locator('svg.timeline.wide g.key-row').count();
  report.next_state = await page.locator('table tbody tr').first().locator('td').nth(2).innerText();

  // The cache check.
  await page.getByLabel('Cache time').fill('10m');
  await page.getByRole('button', { name: 'Check' }).click();
  report.cache_check = await page.locator('#check-answer').innerText();

  // Revoke the next key (not the signing one).
  const nextKid = await page.locator('table tbody tr').first().locator('code').innerText();
  await page.getByRole('link', { name: `Revoke key ${nextKid}` }).click();
  await shoot('confirm-revoke');
  await page.getByRole('button', { name: 'Revoke' }).click();
  await page.waitForURL('**/console/keys?done=revoked');
  report.revoked_state = await page.locator('table tbody tr', { hasText: nextKid }).locator('td').nth(2).innerText();

  // A client, its secret shown once, a token with it.
  await page.getByRole('link', { name: 'Clients' }).click();
  await shoot('clients');
  await page.getByRole('link', { name: 'New client…' }).click();
  await shoot('client-new');
  await page.getByLabel('Client id (empty: generated)').fill('browser-made');
  await page.getByLabel('Name', { exact: true }).fill('Made in a browser');
  await page.getByLabel('Scopes (space-separated)').fill('read');
  await page.getByRole('button', { name: 'Create' }).click();
  const secret = await page.locator('#new-secret').inputValue();
  await shoot('client-secret');
  const tokenResponse = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded',
      authorization: 'Basic ' + Buffer.from(`browser-made:${secret}`).toString('base64') },
    body: 'grant_type=client_credentials',
  });
  report.token_status = tokenResponse.status;
  await page.getByRole('link', { name: 'Back to the client' }).click();
  await shoot('client');

  await page.getByRole('link', { name: 'Trust providers' }).click();
  await shoot('trust');
  await page.getByRole('link', { name: 'Audit' }).click();
  await shoot('audit');
  report.audit_rows = await page.locator('table tbody tr').count();

  // A change posted without the CSRF token, with the session cookie.
  const forged = await page.request.post(`${issuer}/console/keys/rotate`, { form: { now: '1' }, maxRedirects: 0 });
  report.forged_status = forged.status();

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL('**/console/login');
  await page.goto(`${issuer}/console/keys`);
  report.after_sign_out = new URL(page.url()).pathname;
  console.log(JSON.stringify(report));
} catch (e) {
  console.log(JSON.stringify({ error: String(e && e.stack || e), report }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
