// The "SMS inbox" page a person opens during the demo: one self-contained
// HTML document. The server renders the current messages so the page shows
// something without scripts; the script then polls inbox.json every second.
// Message text reaches the page only through escapeHtml or textContent.

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

// Replies a phone commonly sends; each is one click in the reply form.
export const QUICK_REPLIES = ['STOP', 'START', 'HELP'];

// The reply form under each message: the phone answers the sender, and the
// mock posts that as the provider's inbound message (POST /_mock/inbound).
function renderReplyForm(m) {
  const quick = QUICK_REPLIES.map((t) => `<button type="button" class="quick" data-text="${t}">${t}</button>`).join('');
  return `<form class="reply" data-id="${Number(m.id)}"><input name="text" type="text" autocomplete="off" placeholder="Reply from ${escapeHtml(m.to)}" aria-label="Reply text"><button type="submit">Reply</button>${quick}<span class="reply-status" role="status"></span></form>`;
}

function renderCard(m) {
  const code = m.code ? `<div class="code" title="Select to copy">${escapeHtml(m.code)}</div>` : '';
  return `<li class="msg" data-id="${Number(m.id)}">
<div class="meta"><span class="to">${escapeHtml(m.to)}</span><span class="provider">${escapeHtml(m.provider)}</span><time datetime="${escapeHtml(m.time)}">${escapeHtml(m.time)}</time></div>
${code}<p class="text">${escapeHtml(m.text)}</p>${renderReplyForm(m)}</li>`;
}

const STYLE = `
:root { color-scheme: light dark; --bg: #f4f5f7; --card: #fff; --fg: #1d2330; --muted: #6b7280;
  --accent: #2457d6; --line: #e3e6eb; --ok: #1f9d55; --bad: #d64545; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #12151b; --card: #1c212b; --fg: #e8eaef; --muted: #9aa3b2; --accent: #7ea2ff; --line: #2b3240; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { position: sticky; top: 0; background: var(--bg); border-bottom: 1px solid var(--line);
  padding: .75rem 1rem; display: flex; align-items: center; gap: .75rem; }
h1 { font-size: 1.15rem; margin: 0; flex: 1; }
#count { color: var(--muted); font-size: .9rem; }
#live { width: .6rem; height: .6rem; border-radius: 50%; background: var(--muted); }
#live.up { background: var(--ok); } #live.down { background: var(--bad); }
button { font: inherit; font-size: .85rem; color: var(--accent); background: none;
  border: 1px solid var(--line); border-radius: .4rem; padding: .25rem .6rem; cursor: pointer; }
main { max-width: 40rem; margin: 0 auto; padding: 1rem; }
ul { list-style: none; margin: 0; padding: 0; display: grid; gap: .75rem; }
.msg { background: var(--card); border: 1px solid var(--line); border-radius: .75rem; padding: .85rem 1rem; }
.msg.new { animation: arrive 1.2s ease-out; }
@keyframes arrive { from { border-color: var(--accent); box-shadow: 0 0 0 3px var(--accent); } }
.meta { display: flex; flex-wrap: wrap; gap: .25rem .75rem; font-size: .85rem; color: var(--muted); }
.to { color: var(--fg); font-weight: 600; font-variant-numeric: tabular-nums; }
.provider { text-transform: uppercase; letter-spacing: .04em; font-size: .75rem; align-self: center; }
time { margin-left: auto; }
.coderow { display: flex; align-items: center; gap: .75rem; margin: .5rem 0 .25rem; }
.code { font: 700 2.1rem/1.1 ui-monospace, "SF Mono", Menlo, Consolas, monospace; letter-spacing: .12em;
  user-select: all; -webkit-user-select: all; cursor: text; margin: .5rem 0 .25rem; }
.coderow .code { margin: 0; }
.text { margin: .25rem 0 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.reply { display: flex; flex-wrap: wrap; align-items: center; gap: .4rem; margin-top: .6rem;
  padding-top: .6rem; border-top: 1px solid var(--line); }
.reply input { flex: 1 1 8rem; min-width: 0; font: inherit; font-size: .85rem; color: var(--fg); background: var(--bg);
  border: 1px solid var(--line); border-radius: .4rem; padding: .25rem .5rem; }
.reply .quick { color: var(--muted); }
.reply-status { flex-basis: 100%; font-size: .8rem; color: var(--muted); }
.reply-status:empty { display: none; }
.reply-status.ok { color: var(--ok); } .reply-status.bad { color: var(--bad); }
#empty { text-align: center; color: var(--muted); padding: 3rem 1rem; }
#empty strong { display: block; color: var(--fg); font-size: 1.1rem; margin-bottom: .25rem; }
`;

const SCRIPT = `
(function () {
  var list = document.getElementById('list');
  var empty = document.getElementById('empty');
  var count = document.getElementById('count');
  var live = document.getElementById('live');
  var lastKey = null;
  var newestSeen = Number(list.getAttribute('data-newest')) || 0;
  var QUICK = ${JSON.stringify(QUICK_REPLIES)};
  // What was typed in each reply box and the last reply's outcome, by message
  // id, so a redraw (a new message arriving) keeps them.
  var drafts = {};
  var statuses = {};

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    return e;
  }
  function localTime(iso) {
    var d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toLocaleTimeString();
  }
  function card(m, isNew) {
    var li = el('li', isNew ? 'msg new' : 'msg');
    var meta = el('div', 'meta');
    meta.appendChild(el('span', 'to', m.to));
    meta.appendChild(el('span', 'provider', m.provider));
    var t = el('time', null, localTime(m.time));
    t.setAttribute('datetime', String(m.time));
    meta.appendChild(t);
    li.appendChild(meta);
    if (m.code) {
      var row = el('div', 'coderow');
      var code = el('div', 'code', m.code);
      code.title = 'Select to copy';
      row.appendChild(code);
      if (navigator.clipboard && window.isSecureContext) {
        var copy = el('button', null, 'Copy');
        copy.type = 'button';
        copy.addEventListener('click', function () {
          navigator.clipboard.writeText(String(m.code)).then(function () {
            copy.textContent = 'Copied';
            setTimeout(function () { copy.textContent = 'Copy'; }, 1200);
          });
        });
        row.appendChild(copy);
      }
      li.appendChild(row);
    }
    li.appendChild(el('p', 'text', m.text));
    li.appendChild(replyForm(m));
    li.setAttribute('data-id', String(m.id));
    return li;
  }
  function replyForm(m) {
    var form = el('form', 'reply');
    form.setAttribute('data-id', String(m.id));
    var input = el('input');
    input.name = 'text';
    input.type = 'text';
    input.autocomplete = 'off';
    input.placeholder = 'Reply from ' + m.to;
    input.setAttribute('aria-label', 'Reply text');
    input.value = drafts[m.id] || '';
    form.appendChild(input);
    var submit = el('button', null, 'Reply');
    submit.type = 'submit';
    form.appendChild(submit);
    QUICK.forEach(function (t) {
      var b = el('button', 'quick', t);
      b.type = 'button';
      b.setAttribute('data-text', t);
      form.appendChild(b);
    });
    var st = statuses[m.id];
    var status = el('span', 'reply-status' + (st ? ' ' + st.cls : ''), st ? st.text : '');
    status.setAttribute('role', 'status');
    form.appendChild(status);
    return form;
  }
  function showStatus(id, text, cls) {
    statuses[id] = { text: text, cls: cls };
    var form = list.querySelector('form.reply[data-id="' + id + '"]');
    var span = form && form.querySelector('.reply-status');
    if (span) {
      span.textContent = text;
      span.className = 'reply-status ' + cls;
    }
  }
  function sendReply(id, text) {
    if (!text) return;
    showStatus(id, 'Sending \u201c' + text + '\u201d\u2026', '');
    fetch('_mock/inbound', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reply_to: id, text: text }),
    })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        if (res.ok) {
          var ok = res.body.status >= 200 && res.body.status < 300;
          showStatus(id, 'Sent \u201c' + text + '\u201d to ' + res.body.url + ' \u2192 ' + res.body.status, ok ? 'ok' : 'bad');
          if (drafts[id] === text) {
            drafts[id] = '';
            var input = list.querySelector('form.reply[data-id="' + id + '"] input');
            if (input) input.value = '';
          }
        } else {
          showStatus(id, (res.body && res.body.error) || 'Reply failed', 'bad');
        }
      })
      .catch(function () { showStatus(id, 'Mock provider unreachable', 'bad'); });
  }
  list.addEventListener('submit', function (e) {
    var form = e.target.closest('form.reply');
    if (!form) return;
    e.preventDefault();
    sendReply(Number(form.getAttribute('data-id')), form.elements.text.value.trim());
  });
  list.addEventListener('click', function (e) {
    var b = e.target.closest('button.quick');
    if (!b) return;
    var form = b.closest('form.reply');
    sendReply(Number(form.getAttribute('data-id')), b.getAttribute('data-text'));
  });
  list.addEventListener('input', function (e) {
    var form = e.target.closest('form.reply');
    if (form) drafts[form.getAttribute('data-id')] = e.target.value;
  });
  // Redraw only when something changed, so a selected code stays selected.
  function render(items) {
    var key = items.length + ':' + (items.length ? items[0].id : 0);
    if (key === lastKey) return;
    lastKey = key;
    var firstDraw = list.getAttribute('data-drawn') !== '1';
    list.setAttribute('data-drawn', '1');
    // Keep the reply box being typed in focused across the redraw.
    var active = document.activeElement;
    var activeForm = active && active.closest && active.closest('form.reply');
    var activeId = activeForm ? activeForm.getAttribute('data-id') : null;
    var caret = activeId && active.name === 'text' ? active.selectionStart : null;
    if (activeForm && active.name === 'text') drafts[activeId] = active.value;
    list.replaceChildren.apply(list, items.map(function (m) {
      return card(m, !firstDraw && m.id > newestSeen);
    }));
    if (caret !== null) {
      var again = list.querySelector('form.reply[data-id="' + activeId + '"] input');
      if (again) {
        again.focus();
        again.setSelectionRange(caret, caret);
      }
    }
    if (items.length) newestSeen = Math.max(newestSeen, items[0].id);
    empty.hidden = items.length > 0;
    count.textContent = items.length === 1 ? '1 message' : items.length + ' messages';
  }
  function poll() {
    fetch('inbox.json', { cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (items) { live.className = 'up'; live.title = 'Live'; render(items); })
      .catch(function () { live.className = 'down'; live.title = 'Mock provider unreachable'; })
      .then(function () { setTimeout(poll, 1000); });
  }
  document.getElementById('clear').addEventListener('click', function () {
    fetch('_mock/inbox', { method: 'DELETE' }).then(function () { lastKey = null; });
  });
  poll();
})();
`;

export function renderInboxPage(messages) {
  const count = messages.length === 1 ? '1 message' : `${messages.length} messages`;
  const newest = messages.length ? messages[0].id : 0;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SMS inbox</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<span id="live" title="Connecting"></span>
<h1>SMS inbox</h1>
<span id="count">${count}</span>
<button id="clear" type="button">Clear</button>
</header>
<main>
<ul id="list" data-newest="${newest}">
${messages.map(renderCard).join('\n')}
</ul>
<div id="empty"${messages.length ? ' hidden' : ''}><strong>No messages yet</strong>Messages sent through the mock provider appear here.</div>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
