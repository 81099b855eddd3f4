// The sign-up flow over HTTP, as a client goes through it: create, the confirmation link from the mail,
// confirm with a password, log in. The benchmark runs it once per store to check that the server it
// measures works end to end; the load itself uses seeded accounts.
import fs from 'node:fs';
import path from 'node:path';

import { simpleParser } from 'mailparser';

const ACTIONS = '/api/2.0/accounts/action/';
const MAIL_TIMEOUT_MS = 15_000;

async function postAction(url: string, action: string, body: unknown, cookie?: string): Promise<Response> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (cookie) headers.Cookie = cookie;
  return fetch(`${url}${ACTIONS}?do=${action}`, { method: 'POST', headers, body: JSON.stringify(body) });
}

async function expectOk(response: Response, step: string): Promise<void> {
  if (response.status !== 200) throw new Error(`${step} returned ${response.status}: ${(await response.text()).slice(0, 300)}`);
}

/** Waits for the .eml file (SMTP_URL unset) addressed to `email` and returns the token of its link. */
async function confirmationToken(mailDir: string, email: string): Promise<string> {
  const deadline = Date.now() + MAIL_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const files = fs.existsSync(mailDir) ? fs.readdirSync(mailDir).filter((name) => name.endsWith('.eml')) : [];
    for (const file of files) {
      const mail = await simpleParser(fs.readFileSync(path.join(mailDir, file)));
      const recipients = [mail.to ?? []].flat().flatMap((address) => address.value.map((entry) => entry.address));
      const token = /[?&]token=([A-Za-z0-9_-]+)/.exec(mail.text ?? '')?.[1];
      if (recipients.includes(email) && token) return token;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no confirmation mail to ${email} in ${mailDir} within ${MAIL_TIMEOUT_MS / 1000} s`);
}

/** Returns the value of a cookie from a response's Set-Cookie headers. */
function cookieValue(response: Response, name: string): string | null {
  for (const header of response.headers.getSetCookie()) {
    const [pair = ''] = header.split(';');
    const separator = pair.indexOf('=');
    if (pair.slice(0, separator).trim() === name) return pair.slice(separator + 1).trim();
  }
  return null;
}

/** Signs up `email` with `password` through every step over HTTP; throws naming the step that failed. */
export async function signUpOverHttp(url: string, dataDir: string, email: string, password: string): Promise<void> {
  await expectOk(await postAction(url, 'create', { email }), 'create');
  const token = await confirmationToken(path.join(dataDir, 'mail'), email);
  await expectOk(await postAction(url, 'confirm', { token, password }), 'confirm');

  const login = await postAction(url, 'login', { username: email, password });
  await expectOk(login, 'login');
  const sessionId = cookieValue(login, 'sessionid');
  if (!sessionId || !cookieValue(login, 'csrftoken')) throw new Error('login returned 200 without the sessionid and csrftoken cookies');

  await expectOk(await postAction(url, 'check_login', {}, `sessionid=${sessionId}`), 'check_login with the session of the login');
}
