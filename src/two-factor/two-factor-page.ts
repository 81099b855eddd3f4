import type { FastifyInstance } from 'fastify';

import { NO_CREDENTIALS } from '../api-docs/operation-docs.js';
import { registerResource } from '../http/resource.js';
import { cookieNamesOf } from '../http/session-cookies.js';
import { escapeHtml } from '../mail/messages.js';
import { ASSETS_PATH, assetDocs, sendAsset, sendPage } from '../pages/page.js';
import { TWO_FACTOR_JS } from './two-factor-script.js';

export const TWO_FACTOR_PAGE_PATH = '/accounts/two-factor/';

/**
 * Registers the page where a signed-in person turns two-factor authentication on, by scanning a QR code and
 * typing a code, or off again. The page is the same for everyone, because its script does the work through
 * the account actions. Someone not signed in gets a login form first.
 */
export function registerTwoFactorPage(app: FastifyInstance, productName: string): void {
  registerResource(app, `${ASSETS_PATH}two-factor.js`, {
    GET: async (_request, reply) => sendAsset(reply, 'text/javascript; charset=utf-8', TWO_FACTOR_JS),
  }, { GET: assetDocs('The script of the two-factor page', 'text/javascript') });

  registerResource(app, TWO_FACTOR_PAGE_PATH, {
    GET: async (request, reply) => {
      const csrfCookie = cookieNamesOf(request).csrf;
      const body = `
<h1>Two-factor authentication</h1>
<div id="status" class="message" role="status" aria-live="polite" tabindex="-1"></div>
<section id="two-factor" data-csrf-cookie="${escapeHtml(csrfCookie)}">
  <p id="loading">Checking your account…</p>

  <form id="login-form" hidden novalidate>
    <p>Log in to your ${escapeHtml(productName)} account first.</p>
    <label for="username">Email address
      <input id="username" name="username" type="email" autocomplete="username" required>
    </label>
    <label for="password">Password
      <input id="password" name="password" type="password" autocomplete="current-password" required>
    </label>
    <button type="submit">Log in</button>
  </form>

  <form id="verify-form" hidden novalidate>
    <p>Two-factor authentication is on for this account. Type the code that your authenticator app shows, or one of your recovery codes.</p>
    <label for="verify-code">Code
      <input id="verify-code" name="code" inputmode="numeric" autocomplete="one-time-code" required>
    </label>
    <button type="submit">Continue</button>
  </form>

  <div id="off-panel" hidden>
    <p>Two-factor authentication is <strong>off</strong>. Turn it on, and logging in will need a code from an authenticator app on your phone as well as your password.</p>
    <button id="setup-button" type="button">Set up two-factor authentication</button>
  </div>

  <form id="enable-form" hidden novalidate>
    <p>Scan this QR code with your authenticator app, such as Google Authenticator, Aegis or 1Password.</p>
    <div id="qr-code" class="qr" role="img" aria-label="QR code for your authenticator app"></div>
    <p class="hint">Cannot scan it? Type this key into the app instead: <code id="secret"></code></p>
    <label for="enable-code">Then type the six-digit code the app shows
      <input id="enable-code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required>
    </label>
    <label for="enable-password">Your password, to confirm it is you
      <input id="enable-password" name="password" type="password" autocomplete="current-password" required>
    </label>
    <button type="submit">Turn on two-factor authentication</button>
  </form>

  <div id="codes-panel" hidden>
    <p>Two-factor authentication is <strong>on</strong>. Save these recovery codes somewhere safe: each one logs you in once if you lose your phone. They are shown only now.</p>
    <ol id="recovery-codes" class="codes"></ol>
  </div>

  <form id="disable-form" hidden novalidate>
    <p>Two-factor authentication is <strong>on</strong>. To turn it off, confirm with your password and a code.</p>
    <label for="disable-password">Password
      <input id="disable-password" name="password" type="password" autocomplete="current-password" required>
    </label>
    <label for="disable-code">Code from your authenticator app, or a recovery code
      <input id="disable-code" name="code" autocomplete="one-time-code" required>
    </label>
    <button type="submit">Turn off two-factor authentication</button>
  </form>
</section>
<noscript><p class="message error">This page needs JavaScript.</p></noscript>
<script src="${ASSETS_PATH}two-factor.js" defer></script>`;
      return sendPage(reply, 200, productName, 'two-factor authentication', body);
    },
  }, {
    GET: {
      tag: 'pages',
      summary: 'The page that turns two-factor authentication on or off',
      description: 'The page is the same for everyone; its script logs in first when needed and uses the account actions.',
      access: NO_CREDENTIALS,
      response: { description: 'The page.', mediaType: 'text/html' },
    },
  });
}
