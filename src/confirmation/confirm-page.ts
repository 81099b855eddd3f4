import type { FastifyInstance, FastifyReply } from 'fastify';

import { escapeHtml, PRODUCT_NAME } from '../mail/messages.js';
import { MIN_PASSWORD_LENGTH } from '../passwords/password-policy.js';
import { CONFIRM_JS, PAGE_CSS } from '../pages/page-assets.js';
import { registerResource } from '../http/resource.js';
import type { ConfirmationService } from './confirmation-service.js';
import { CONFIRM_PAGE_PATH } from './confirmation-tokens.js';

const ASSETS = '/accounts/assets/';

// No inline script or style, no other origin, no framing; the token in the page URL is never sent on.
const PAGE_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Cache-Control': 'no-store',
};

/**
 * Registers the page that a confirmation link opens, with a form to set the first password. Opening it
 * only reads the token, because mail scanners open links before people do.
 */
export function registerConfirmPage(app: FastifyInstance, confirmation: ConfirmationService): void {
  registerResource(app, CONFIRM_PAGE_PATH, {
    GET: async (request, reply) => {
      const query = request.query as Record<string, unknown>;
      const token = typeof query.token === 'string' ? query.token : '';
      const check = await confirmation.check(token, Date.now());

      const body = check.ok ? passwordForm(token) : problem(check.reason);
      return sendPage(reply, check.ok ? 200 : 400, body);
    },
  });

  registerResource(app, `${ASSETS}page.css`, {
    GET: async (_request, reply) => reply.type('text/css; charset=utf-8').header('Cache-Control', 'public, max-age=3600').send(PAGE_CSS),
  });
  registerResource(app, `${ASSETS}confirm.js`, {
    GET: async (_request, reply) =>
      reply.type('text/javascript; charset=utf-8').header('Cache-Control', 'public, max-age=3600').send(CONFIRM_JS),
  });
}

function passwordForm(token: string): string {
  return `
<h1>Set your password</h1>
<p>Choose the password for your ${escapeHtml(PRODUCT_NAME)} account. You will be logged in when it is set.</p>
<div id="status" class="message" role="status" aria-live="polite" tabindex="-1"></div>
<form id="confirm-form" data-action="/api/2.0/accounts/action/?do=confirm" novalidate>
  <input type="hidden" name="token" value="${escapeHtml(token)}">
  <label for="password">New password
    <span class="hint" id="password-hint">At least ${MIN_PASSWORD_LENGTH} characters. Common passwords and your email address are not accepted.</span>
    <input id="password" name="password" type="password" autocomplete="new-password" required minlength="${MIN_PASSWORD_LENGTH}" aria-describedby="password-hint">
  </label>
  <label for="repeat">Repeat the password
    <input id="repeat" name="repeat" type="password" autocomplete="new-password" required minlength="${MIN_PASSWORD_LENGTH}">
  </label>
  <button type="submit">Set password</button>
</form>
<noscript><p class="message error">This page needs JavaScript to set your password.</p></noscript>
<script src="${ASSETS}confirm.js" defer></script>`;
}

function problem(reason: string): string {
  return `
<h1>This link cannot be used</h1>
<p class="message error" role="alert">${escapeHtml(capitalize(reason))}.</p>`;
}

function sendPage(reply: FastifyReply, status: number, body: string): FastifyReply {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(PRODUCT_NAME)}: set your password</title>
<link rel="stylesheet" href="${ASSETS}page.css">
</head>
<body>
<main>${body}
</main>
</body>
</html>
`;
  return reply.code(status).headers(PAGE_HEADERS).type('text/html; charset=utf-8').send(html);
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
