import { action } from './client.js';
import { confirmationLinkIn, type SmtpSink, tokenOf } from './smtp-sink.js';

export const PASSWORD = 'correct horse battery staple';

let counter = 0;

/** A new address nobody has used in this run. */
export function uniqueAddress(prefix = 'user'): string {
  counter += 1;
  return `${prefix}.${process.pid}.${Date.now()}.${counter}@example.com`;
}

/** Signs up `email` and returns the uuid and the confirmation token from the mail the SMTP sink received. */
export async function signUp(baseUrl: string, smtp: SmtpSink, email: string): Promise<{ uuid: string; token: string }> {
  const created = await action(baseUrl, 'create', { body: { email } });
  if (created.status !== 200) throw new Error(`create failed: ${created.status} ${created.text}`);

  const [mail] = (await smtp.waitFor(email)).slice(-1);
  if (!mail) throw new Error('no mail');
  return { uuid: (created.body as { uuid: string }).uuid, token: tokenOf(confirmationLinkIn(mail)) };
}

/** Signs up and confirms an account; returns its uuid and the session cookies from the confirmation. */
export async function activeAccount(
  baseUrl: string,
  smtp: SmtpSink,
  email = uniqueAddress(),
  password = PASSWORD,
): Promise<{ email: string; password: string; uuid: string; cookies: Record<string, string> }> {
  const { uuid, token } = await signUp(baseUrl, smtp, email);
  const confirmed = await action(baseUrl, 'confirm', { body: { token, password } });
  if (confirmed.status !== 200) throw new Error(`confirm failed: ${confirmed.status} ${confirmed.text}`);

  const cookies = Object.fromEntries(Object.entries(confirmed.cookies).map(([name, cookie]) => [name, cookie.value]));
  return { email, password, uuid, cookies };
}
