/* The local web chat: pick a user of the emulator's directory and talk to the bot. Bot messages
 * are polled from the emulator; Adaptive Cards are rendered with the adaptivecards renderer and
 * their Action.Execute buttons are posted back as invoke activities (through the emulator, which
 * signs them like Teams). A card the bot updates in place is re-rendered in place. */
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const state = { users: [], user: null, channel: false, after: 0, nodes: new Map(), timer: null };

  async function api(path, body) {
    const res = await fetch('/_emulator/' + path, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const json = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((json.error && json.error.message) || 'HTTP ' + res.status);
    return json;
  }

  function markdown(text) {
    const esc = String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    return esc
      .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
      .replace(/\[([^\]]+)\]\((https?:[^)\s]+)\)/g, '<a href="$2" target="_blank" rel="noopener">$1</a>')
      .replace(/\n/g, '<br>');
  }
  AdaptiveCards.AdaptiveCard.onProcessMarkdown = (text, result) => {
    result.outputHtml = markdown(text);
    result.didProcess = true;
  };

  function toast(node, text, error) {
    let t = node.querySelector('.toast');
    if (!t) {
      t = document.createElement('div');
      t.className = 'toast';
      t.setAttribute('role', 'status');
      node.appendChild(t);
    }
    t.classList.toggle('error', !!error);
    t.textContent = text;
  }

  function renderCard(activity, node, content) {
    const card = new AdaptiveCards.AdaptiveCard();
    card.hostConfig = new AdaptiveCards.HostConfig({ fontFamily: 'Segoe UI, system-ui, sans-serif' });
    card.onExecuteAction = async (action) => {
      const verb = action.verb || (action.data && action.data.verb) || action.title;
      try {
        const r = await api('invoke', { user: state.user, cardActivityId: activity.id, verb, data: action.data || {}, channel: state.channel });
        const body = r.body || {};
        if (r.status >= 400) toast(node, 'The bot answered ' + r.status, true);
        else if (body.type === 'application/vnd.microsoft.activity.message' && body.value) toast(node, body.value);
        poll();
      } catch (err) {
        toast(node, err.message, true);
      }
    };
    card.parse(content);
    return card.render();
  }

  function draw(activity) {
    let node = state.nodes.get(activity.id);
    const fresh = !node;
    if (fresh) {
      node = document.createElement('article');
      node.className = 'msg ' + (activity.fromBot ? 'bot' : 'user');
      state.nodes.set(activity.id, node);
      $('transcript').appendChild(node);
    }
    node.replaceChildren();
    node.dataset.activityId = activity.id;
    node.dataset.version = String(activity.version);
    const meta = document.createElement('div');
    meta.className = 'meta';
    meta.textContent = (activity.fromBot ? 'Workshop bot' : activity.from.name || 'You') + ' · ' + new Date(activity.createdAt).toLocaleTimeString();
    if (activity.version > 1) {
      const e = document.createElement('span');
      e.className = 'edited';
      e.textContent = ' · edited';
      meta.appendChild(e);
    }
    node.appendChild(meta);
    if (activity.deleted) {
      node.appendChild(document.createTextNode('(deleted)'));
      return;
    }
    if (activity.text) {
      const p = document.createElement('div');
      p.innerHTML = markdown(activity.text);
      node.appendChild(p);
    }
    for (const att of activity.attachments || []) {
      if (att.contentType === 'application/vnd.microsoft.card.adaptive') node.appendChild(renderCard(activity, node, att.content));
    }
    if (fresh) node.scrollIntoView({ block: 'end' });
  }

  async function poll() {
    if (!state.user) return;
    const path = state.channel ? 'team/activities' : 'users/' + encodeURIComponent(state.user) + '/activities';
    try {
      const r = await api(path + '?after=' + state.after);
      for (const a of r.activities) draw(a);
      state.after = Math.max(state.after, r.seq);
    } catch (err) {
      console.warn(err);
    }
  }

  async function choose(user) {
    state.user = user;
    state.after = 0;
    state.nodes.clear();
    $('transcript').replaceChildren();
    // Opening a chat installs the app for that user; ticking "team channel" adds it to the team (once).
    const key = state.channel ? 'installed:team' : 'installed:' + user;
    if (!sessionStorage.getItem(key)) {
      sessionStorage.setItem(key, '1');
      await api('install', { user, team: state.channel }).catch((err) => console.warn(err));
    }
    await poll();
  }

  async function loadUsers(select) {
    const s = await api('state');
    state.users = s.users;
    const who = $('who');
    who.replaceChildren(
      ...s.users.map((u) => {
        const o = document.createElement('option');
        o.value = u.id;
        o.textContent = u.name + ' <' + u.upn + '>' + (u.kind && u.kind !== 'user' ? ' — ' + u.kind : '');
        return o;
      }),
    );
    const pick = select || (new URLSearchParams(location.search).get('user')) || state.user || (s.users[0] && s.users[0].id);
    const match = s.users.find((u) => u.id === pick || u.upn === pick);
    if (match) who.value = match.id;
    await choose(who.value);
  }

  $('who').addEventListener('change', (e) => choose(e.target.value));
  $('channel').addEventListener('change', (e) => {
    state.channel = e.target.checked;
    choose(state.user);
  });
  $('toggleAdd').addEventListener('click', () => {
    const open = $('adduser').classList.toggle('open');
    $('toggleAdd').setAttribute('aria-expanded', String(open));
  });
  $('adduser').addEventListener('submit', async (e) => {
    e.preventDefault();
    const u = await api('users', { name: $('newName').value, upn: $('newUpn').value });
    $('newName').value = '';
    $('newUpn').value = '';
    await loadUsers(u.id);
  });
  $('composer').addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = $('text').value.trim();
    if (!text || !state.user) return;
    $('text').value = '';
    try {
      await api('say', { user: state.user, text, channel: state.channel });
    } catch (err) {
      alert(err.message);
    }
    poll();
  });

  loadUsers().then(() => {
    state.timer = setInterval(poll, 1000);
  });
})();
