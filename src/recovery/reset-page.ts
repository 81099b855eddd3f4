import type { FastifyInstance } from 'fastify';

import { registerResource } from '../http/resource.js';
import { formPageBody, linkPageDocs, problemPageBody, sendPage } from '../pages/page.js';
import type { PasswordResetService } from './reset-service.js';
import { RESET_PAGE_PATH } from './reset-tokens.js';

/**
 * Registers the page that a reset link opens, with a form to choose a new password. Opening it only reads
 * the token, because mail scanners open links before people do.
 */
export function registerResetPage(app: FastifyInstance, passwordResets: PasswordResetService, productName: string): void {
  registerResource(app, RESET_PAGE_PATH, {
    GET: async (request, reply) => {
      const query = request.query as Record<string, unknown>;
      const token = typeof query.token === 'string' ? query.token : '';
      const check = await passwordResets.check(token, Date.now());

      if (!check.ok) return sendPage(reply, 400, productName, 'reset your password', problemPageBody(check.reason));
      const body = formPageBody({
        heading: 'Choose a new password',
        introduction:
          `Choose a new password for your ${productName} account. Every session of the account will be logged ` +
          'out, and you will be logged in here.',
        action: 'reset_password',
        token,
        newPassword: true,
        submitLabel: 'Set new password',
        successMessage: 'Your new password is set and you are logged in. You can close this page.',
      });
      return sendPage(reply, 200, productName, 'reset your password', body);
    },
  }, { GET: linkPageDocs('The page of a password reset link, with a form that sets a new password') });
}
