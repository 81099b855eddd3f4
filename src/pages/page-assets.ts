// The pages' style sheet and scripts are served as files of their own, so that the Content-Security-Policy
// can forbid every inline script and style.

export const PAGE_CSS = `
:root { color-scheme: light dark; --accent: #0b5cad; --error: #b3261e; --ok: #1e6b34; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: Canvas; color: CanvasText; }
main { max-width: 26rem; margin: 4rem auto; padding: 0 1.25rem; }
h1 { font-size: 1.5rem; margin: 0 0 .5rem; }
p { margin: 0 0 1rem; }
form { display: grid; gap: 1rem; }
label { display: grid; gap: .25rem; font-weight: 600; }
.hint { font-weight: 400; font-size: .875rem; opacity: .8; }
input { font: inherit; padding: .6rem .7rem; border: 1px solid GrayText; border-radius: .4rem; background: Field; color: FieldText; }
input:focus-visible, button:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
button { font: inherit; font-weight: 600; padding: .65rem 1rem; border: 0; border-radius: .4rem; background: var(--accent); color: #fff; cursor: pointer; }
button[disabled] { opacity: .6; cursor: progress; }
.message { padding: .75rem 1rem; border-radius: .4rem; border: 1px solid currentColor; }
.message:empty { display: none; }
.error { color: var(--error); }
.ok { color: var(--ok); }
.qr svg { display: block; width: 12rem; height: 12rem; margin: 0 auto; }
.codes { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; columns: 2; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; word-break: break-all; }
`;

export const FORM_JS = `
'use strict';
(function () {
  var form = document.getElementById('action-form');
  var status = document.getElementById('status');
  if (!form || !status) return;

  function show(kind, text) {
    status.className = 'message ' + kind;
    status.textContent = text;
    status.focus();
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var password = form.elements.namedItem('password');
    var repeat = form.elements.namedItem('repeat');
    if (password && repeat && password.value !== repeat.value) {
      show('error', 'The two passwords are not the same. Type the same password in both fields.');
      return;
    }

    var body = {};
    Array.prototype.forEach.call(form.querySelectorAll('input[name]'), function (input) {
      if (input.name !== 'repeat') body[input.name] = input.value;
    });

    var button = form.querySelector('button');
    button.disabled = true;
    show('', 'Sending…');

    fetch(form.getAttribute('data-action'), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (result) {
        if (response.ok) {
          form.hidden = true;
          show('ok', form.getAttribute('data-success'));
          return;
        }
        var messages = Array.isArray(result) ? result.map(function (e) { return e.error_message; }) : [];
        show('error', messages.length ? messages.join(' ') : 'The request failed (HTTP ' + response.status + '). Try again.');
        button.disabled = false;
      });
    }).catch(function () {
      show('error', 'The server could not be reached. Check your connection and try again.');
      button.disabled = false;
    });
  });
})();
`;
