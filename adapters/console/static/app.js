// quickread console page: vanilla JS, no build step. Message bodies arrive as HTML the server already
// escaped (adapters/console/render.ts); everything this file writes itself goes through textContent.

const state = {
  me: '',
  channels: [],
  channel: '',
  messages: new Map(),
  unread: new Map(),
  // Attached files in the order chosen or dropped: posted together, they are read as one study.
  files: [],
};

// As the server's MAX_FILES_PER_POST (adapters/console/http.ts).
const maxFiles = 10;

const $ = (id) => document.getElementById(id);
const feed = $('feed');

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function timeOf(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime())
    ? ''
    : date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function toast(text) {
  const box = $('toast');
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => {
    box.hidden = true;
  }, 5000);
}

// ---- channels -------------------------------------------------------------------------------------

function renderChannels() {
  const nav = $('channels');
  nav.replaceChildren();
  for (const name of state.channels) {
    const link = el('a', name === state.channel ? 'chan active' : 'chan', `#${name}`);
    link.href = `#${name}`;
    const unread = state.unread.get(name) || 0;
    if (unread > 0 && name !== state.channel) link.append(el('span', 'unread', String(unread)));
    nav.append(link);
  }
  $('chan-title').textContent = `#${state.channel}`;
}

function selectChannel(name) {
  if (!state.channels.includes(name)) return;
  state.channel = name;
  state.unread.set(name, 0);
  renderChannels();
  renderFeed();
}

window.addEventListener('hashchange', () => selectChannel(location.hash.slice(1)));

// ---- feed -----------------------------------------------------------------------------------------

function threadNode(rootId) {
  let node = feed.querySelector(`.thread[data-id="${CSS.escape(rootId)}"]`);
  if (node) return node;
  node = el('div', 'thread');
  node.dataset.id = rootId;
  const replies = el('div', 'replies');
  const form = el('form', 'reply');
  form.dataset.thread = rootId;
  const input = el('input');
  input.name = 'question';
  input.placeholder = 'Reply in thread — a follow-up about this image';
  input.maxLength = 2000;
  input.setAttribute('aria-label', 'Follow-up question');
  const button = el('button', 'send small', 'Reply');
  button.type = 'submit';
  form.append(input, button);
  node.append(replies, form);
  feed.append(node);
  return node;
}

function drawMessage(message) {
  if (message.channelId !== state.channel) return;
  const thread = threadNode(message.threadId);
  let node = thread.querySelector(`.msg[data-id="${CSS.escape(message.id)}"]`);
  if (!node) {
    node = el('div', '');
    node.dataset.id = message.id;
    const head = el('div', 'who');
    const body = el('div', 'body');
    node.append(head, body);
    if (message.id === message.threadId) thread.prepend(node);
    else thread.querySelector('.replies').append(node);
  }
  const bot = message.author.kind === 'bot';
  const mine = !bot && message.author.name === state.me;
  node.className = `msg ${bot ? 'bot' : 'user'} kind-${message.view.kind}${mine ? ' mine' : ''}${message.view.state ? ` state-${message.view.state}` : ''}`;
  const head = node.querySelector('.who');
  head.replaceChildren(
    el('span', 'author', bot ? 'quickread' : mine ? `${message.author.name} (you)` : message.author.name),
    el('span', 'time', timeOf(message.at)),
  );
  if (message.reaction) {
    // The emoji alone is an empty box where no emoji font exists: it gets a name.
    const reaction = el('span', 'reaction', message.reaction);
    const name = reactionNames[message.reaction] || 'status';
    reaction.setAttribute('role', 'img');
    reaction.setAttribute('aria-label', name);
    reaction.title = name;
    head.append(reaction);
  }
  if (message.visibleTo) head.append(el('span', 'private', 'only you'));
  // Server-rendered and escaped (render.ts); the page's CSP forbids inline script besides.
  const body = node.querySelector('.body');
  body.innerHTML = message.view.html;
  localTimes(body);
}

const reactionNames = { '👀': 'received', '✅': 'answered', '⚠️': 'failed' };

/** Times the server wrote in UTC (it cannot know the reader's zone) shown in local time, like the rest. */
function localTimes(root) {
  for (const node of root.querySelectorAll('time.local')) {
    const local = timeOf(node.getAttribute('datetime'));
    if (local) node.textContent = local;
  }
}

function renderFeed() {
  feed.replaceChildren();
  const inChannel = [...state.messages.values()].filter((m) => m.channelId === state.channel);
  if (inChannel.length === 0) {
    const empty = el('div', 'empty');
    empty.append(
      el('p', '', 'No reads here yet.'),
      el('p', 'muted', 'Drop a DICOM, PNG or JPEG onto this page (or tap Attach), type a question and send.'),
    );
    feed.append(empty);
  }
  for (const message of inChannel) drawMessage(message);
  feed.scrollTop = feed.scrollHeight;
}

function upsert(message) {
  const isNew = !state.messages.has(message.id);
  state.messages.set(message.id, message);
  if (message.channelId !== state.channel) {
    if (isNew) state.unread.set(message.channelId, (state.unread.get(message.channelId) || 0) + 1);
    renderChannels();
    return;
  }
  const nearBottom = feed.scrollHeight - feed.scrollTop - feed.clientHeight < 120;
  feed.querySelector('.empty')?.remove();
  drawMessage(message);
  if (nearBottom || isNew) feed.scrollTop = feed.scrollHeight;
}

// ---- engine banner --------------------------------------------------------------------------------

function showEngine(engine) {
  if (!engine) return;
  $('banner').hidden = engine.up;
  $('banner-cmd').textContent = engine.command;
  const parts = [engine.up ? `● ${engine.model}` : '○ model server down'];
  if (engine.running) parts.push(`${engine.running} reading`);
  if (engine.queued) parts.push(`${engine.queued} queued`);
  const queue = $('queue');
  queue.textContent = parts.join(' · ');
  queue.className = engine.up ? 'queue up' : 'queue down';
}

// ---- live events (Server-Sent Events) -------------------------------------------------------------

function connect() {
  const source = new EventSource('/api/events');
  source.addEventListener('snapshot', (event) => {
    const data = JSON.parse(event.data);
    state.me = data.me.name;
    state.channels = data.channels;
    $('me').textContent = state.me;
    state.messages = new Map(data.messages.map((m) => [m.id, m]));
    const wanted = location.hash.slice(1);
    state.channel = state.channels.includes(wanted) ? wanted : state.channel || state.channels[0];
    renderChannels();
    renderFeed();
    showEngine(data.engine);
    document.body.dataset.ready = 'true';
  });
  source.addEventListener('message', (event) => upsert(JSON.parse(event.data)));
  source.addEventListener('engine', (event) => showEngine(JSON.parse(event.data)));
}

// ---- sending --------------------------------------------------------------------------------------

async function send(form) {
  const response = await fetch('/api/messages', { method: 'POST', body: form, credentials: 'same-origin' });
  if (!response.ok) {
    let text = `The console refused that (${response.status}).`;
    try {
      const body = await response.json();
      if (body.error?.message) text = body.error.message;
    } catch {}
    toast(text);
    return false;
  }
  return true;
}

function setFiles(files) {
  state.files = files.slice(0, maxFiles);
  if (files.length > maxFiles)
    toast(`At most ${maxFiles} files go in one message; the first ${maxFiles} are attached.`);
  const count = state.files.length;
  const kb = Math.max(1, Math.round(state.files.reduce((sum, file) => sum + file.size, 0) / 1024));
  $('chosen').hidden = count === 0;
  $('chosen-name').textContent =
    count === 0
      ? ''
      : count === 1
        ? `Attached: ${state.files[0].name} · ${kb} KB`
        : `Attached: ${count} files · ${kb} KB`;
  const badge = $('file-count');
  badge.hidden = count < 2;
  badge.textContent = String(count);
  badge.setAttribute('aria-label', `${count} files attached`);
  $('chosen-clear').setAttribute('aria-label', count > 1 ? 'Remove attachments' : 'Remove attachment');
  // The input is only a picker: the list lives in state.files, so picking again adds to it.
  $('file').value = '';
}

/** Files picked or dropped join those already attached, in the order they came. */
function addFiles(list) {
  const added = [...(list || [])];
  if (added.length > 0) setFiles([...state.files, ...added]);
}

$('file').addEventListener('change', (event) => addFiles(event.target.files));
$('chosen-clear').addEventListener('click', () => setFiles([]));

$('composer').addEventListener('submit', async (event) => {
  event.preventDefault();
  const question = $('question').value.trim();
  if (!question && state.files.length === 0) return;
  const form = new FormData();
  form.append('channel', state.channel);
  form.append('question', question);
  // One part per file, in order: the server keeps that order for the study's labels.
  for (const file of state.files) form.append('file', file, file.name);
  $('send').disabled = true;
  try {
    if (await send(form)) {
      $('question').value = '';
      setFiles([]);
    }
  } finally {
    $('send').disabled = false;
  }
});

$('question').addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey) {
    event.preventDefault();
    $('composer').requestSubmit();
  }
});

feed.addEventListener('submit', async (event) => {
  const target = event.target;
  if (!target.matches('form.reply')) return;
  event.preventDefault();
  const input = target.querySelector('input');
  const question = input.value.trim();
  if (!question) return;
  const form = new FormData();
  form.append('channel', state.channel);
  form.append('threadId', target.dataset.thread);
  form.append('question', question);
  if (await send(form)) input.value = '';
});

feed.addEventListener('click', async (event) => {
  const button = event.target.closest('button[data-action]');
  if (!button) return;
  button.disabled = true;
  const { action, job } = button.dataset;
  try {
    const response = await fetch(`/api/jobs/${encodeURIComponent(job)}/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
      credentials: 'same-origin',
    });
    if (!response.ok) toast('That did not work; please try again.');
    else if (action !== 'ack') toast('Thanks — your feedback was recorded.');
  } finally {
    button.disabled = false;
  }
});

// ---- drag and drop --------------------------------------------------------------------------------

let dragDepth = 0;
window.addEventListener('dragenter', (event) => {
  if (!event.dataTransfer?.types.includes('Files')) return;
  dragDepth += 1;
  $('drop').hidden = false;
});
window.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) $('drop').hidden = true;
});
window.addEventListener('dragover', (event) => event.preventDefault());
window.addEventListener('drop', (event) => {
  event.preventDefault();
  dragDepth = 0;
  $('drop').hidden = true;
  const files = event.dataTransfer?.files;
  if (files && files.length > 0) {
    addFiles(files);
    $('question').focus();
  }
});

connect();
