// The script of the two-factor page, served as a file of its own so that the Content-Security-Policy can
// forbid inline scripts. It talks to the account actions with the session cookie and its CSRF token.
export const TWO_FACTOR_JS = `
'use strict';
(function () {
  var root = document.getElementById('two-factor');
  var status = document.getElementById('status');
  if (!root || !status) return;
  var csrfCookie = root.getAttribute('data-csrf-cookie');

  function element(id) { return document.getElementById(id); }
  var panels = ['loading', 'login-form', 'verify-form', 'off-panel', 'enable-form', 'codes-panel', 'disable-form'];

  function showOnly(id) {
    panels.forEach(function (panel) { element(panel).hidden = panel !== id; });
  }

  function say(kind, text) {
    status.className = 'message ' + kind;
    status.textContent = text;
    if (text) status.focus();
  }

  function csrfToken() {
    var found = document.cookie.split('; ').filter(function (pair) { return pair.indexOf(csrfCookie + '=') === 0; })[0];
    return found ? decodeURIComponent(found.slice(csrfCookie.length + 1)) : '';
  }

  function call(method, url, body, code) {
    // X-Requested-With keeps the browser from opening its own password dialog on a 401.
    var headers = { 'Accept': 'application/json', 'X-CSRFToken': csrfToken(), 'X-Requested-With': 'XMLHttpRequest' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (code) headers['OTP'] = code;
    return fetch(url, { method: method, credentials: 'same-origin', headers: headers, body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (response) {
        return response.json().catch(function () { return null; }).then(function (result) {
          return { ok: response.ok, status: response.status, result: result };
        });
      });
  }

  function action(name, body, code) {
    return call('POST', '/api/2.0/accounts/action/?do=' + name, body || {}, code);
  }

  function problem(reply) {
    var messages = Array.isArray(reply.result) ? reply.result.map(function (e) { return e.error_message; }) : [];
    return messages.length ? messages.join(' ') : 'The request failed (HTTP ' + reply.status + '). Try again.';
  }

  function failed() { say('error', 'The server could not be reached. Check your connection and try again.'); }

  function refresh() {
    call('GET', '/api/2.0/profile/').then(function (reply) {
      if (reply.ok) {
        showOnly(reply.result.otp_enabled ? 'disable-form' : 'off-panel');
        return;
      }
      // A 401 for a session that waits for its second factor, or for no session at all.
      showOnly(/two-factor verification is pending/.test(problem(reply)) ? 'verify-form' : 'login-form');
    }).catch(failed);
  }

  function onSubmit(id, handler) {
    var form = element(id);
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var button = form.querySelector('button');
      button.disabled = true;
      say('', 'Sending…');
      handler(form).catch(failed).then(function () { button.disabled = false; });
    });
  }

  onSubmit('login-form', function (form) {
    return action('login', { username: form.elements.username.value, password: form.elements.password.value }).then(function (reply) {
      if (!reply.ok) return say('error', problem(reply));
      say('', '');
      refresh();
    });
  });

  onSubmit('verify-form', function (form) {
    return action('verify_otp', {}, form.elements.code.value).then(function (reply) {
      if (!reply.ok) return say('error', problem(reply));
      say('', '');
      refresh();
    });
  });

  element('setup-button').addEventListener('click', function () {
    action('otp_setup').then(function (reply) {
      if (!reply.ok) return say('error', problem(reply));
      var svg = new DOMParser().parseFromString(reply.result.qr_svg, 'image/svg+xml').documentElement;
      var holder = element('qr-code');
      holder.textContent = '';
      holder.appendChild(document.importNode(svg, true));
      element('secret').textContent = reply.result.secret;
      say('', '');
      showOnly('enable-form');
      element('enable-code').focus();
    }).catch(failed);
  });

  onSubmit('enable-form', function (form) {
    return action('otp_enable', { password: form.elements.password.value }, form.elements.code.value.trim()).then(function (reply) {
      if (!reply.ok) return say('error', problem(reply));
      form.reset();
      var list = element('recovery-codes');
      list.textContent = '';
      reply.result.recovery_codes.forEach(function (code) {
        var item = document.createElement('li');
        item.textContent = code;
        list.appendChild(item);
      });
      showOnly('codes-panel');
      say('ok', 'Two-factor authentication is on.');
    });
  });

  onSubmit('disable-form', function (form) {
    return action('otp_disable', { password: form.elements.password.value }, form.elements.code.value.trim()).then(function (reply) {
      if (!reply.ok) return say('error', problem(reply));
      form.reset();
      showOnly('off-panel');
      say('ok', 'Two-factor authentication is off.');
    });
  });

  refresh();
})();
`;
