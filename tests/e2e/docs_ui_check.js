// Drives /docs (Swagger UI) and /redoc in Debian's headless chromium through
// playwright-core; prints one JSON object with what it saw. Used by
// test_docs_ui.py. Env: BASE_URL, API_KEY, PLAYWRIGHT_CORE (package dir),
// CHROMIUM (executable), PROFILE_DIR (fresh user data dir).
const { chromium } = require(process.env.PLAYWRIGHT_CORE);

(async () => {
  const base = process.env.BASE_URL;
  const out = { foreign_requests: [], console_errors: [] };
  const ctx = await chromium.launchPersistentContext(process.env.PROFILE_DIR, {
    executablePath: process.env.CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    // Offline: anything not served by vdb is refused (and recorded).
    await ctx.route('**/*', (route) => {
      const u = route.request().url();
      if (u.startsWith(base) || u.startsWith('data:') || u.startsWith('blob:')) return route.continue();
      return route.abort();
    });
    const page = ctx.pages()[0] || await ctx.newPage();
    const sent = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(base) && !r.url().startsWith('data:') && !r.url().startsWith('blob:'))
        out.foreign_requests.push(r.url());
      if (r.url().includes('/admin/list_stores'))
        sent.push({ url: r.url(), key: r.headers()['x-api-key'] || null });
    });
    page.on('console', (m) => { if (m.type() === 'error') out.console_errors.push(m.text()); });

    await page.goto(base + '/docs', { waitUntil: 'load' });
    await page.waitForSelector('.swagger-ui .opblock', { timeout: 60000 });
    out.title = (await page.textContent('.swagger-ui .info .title')).trim();
    out.operations = await page.locator('.swagger-ui .opblock').count();

    // "Try it out" on GET /admin/list_stores, first without a key, then
    // after entering one under "Authorize".
    const op = page.locator('#operations-admin-adminListStores');
    await op.locator('.opblock-summary').click();
    const run = async () => {
      if (!(await op.locator('button.execute').isVisible()))
        await op.locator('button.try-out__btn').click();
      await op.locator('button.execute').click();
      const status = op.locator('.live-responses-table .response .response-col_status');
      await status.first().waitFor({ timeout: 30000 });
      const code = (await status.first().textContent()).trim();
      const body = (await op.locator('.live-responses-table .response-col_description pre').first().textContent());
      return { code, body };
    };
    out.without_key = await run();
    await op.locator('button.btn-clear').click().catch(() => {});

    await page.click('.swagger-ui .auth-wrapper .authorize');
    const dialog = page.locator('.swagger-ui .dialog-ux');
    await dialog.waitFor();
    const keyForm = dialog.locator('.auth-container').filter({ hasText: 'ApiKeyHeader' });
    await keyForm.locator('input').fill(process.env.API_KEY);
    await keyForm.locator('button.authorize').click();
    await dialog.locator('button.btn-done, .close-modal').first().click();
    out.with_key = await run();
    out.sent = sent;

    // ReDoc renders the same document (its footer logo, the one thing it
    // loads from a CDN, is refused like everything else off-host).
    out.swagger_foreign_requests = out.foreign_requests.slice();
    await page.goto(base + '/redoc', { waitUntil: 'load' });
    await page.waitForSelector('h1', { timeout: 60000 });
    out.redoc_title = (await page.textContent('h1')).trim();
    out.redoc_has_operation = (await page.content()).includes('Stores the key can see');
  } finally {
    await ctx.close();
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e && e.stack || String(e)); process.exit(1); });
