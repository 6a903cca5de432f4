// The page of tracep's web dashboard. It renders what the server sends:
// every word about an event (its text, its process, the process tree, the
// links, the loss, the verdict) is the core's, computed in Go; this script
// only lays it out, filters it and follows links.
'use strict';
(() => {
  const ROW = 20; // px; the list's rows all have this height
  const TREE_CHILDREN = 25; // children of a process shown before "all"
  const FRAME_BUDGET = 12; // ms of a frame for taking in events
  const $ = (id) => document.getElementById(id);

  const S = {
    inbox: [], // batches of events (JSON) not yet taken in
    evs: [], // the events, in the order published: {id, t, proc, text, inc, act, ev}
    at: new Map(), // id → index in evs
    order: [], // indexes in evs in time order (kernel time, then id): the list's order
    lastK: 0, // the latest kernel time seen
    kinds: [],
    hidden: new Set(), // kinds not shown
    counts: new Map(), // kind → events
    pidCount: new Map(), // pid → events
    filt: [], // indexes in evs of the events shown, in time order
    q: '',
    proc: null, // the process filter: {pid, name}
    pmode: 'tree',
    pset: null, // the pids the process filter lets through
    from: null, to: null, // the time filter, in ms since the epoch
    onlyViol: false, onlyInc: false,
    follow: false,
    status: null,
    tree: null, nodes: new Map(), // pid → node of the tree message
    expanded: new Set(), // pids whose children are all shown
    verdict: null, viol: new Map(), // id → violations of that event
    sel: 0, // the selected event's id
    focusPid: 0,
    t0: 0, tmin: Infinity, tmax: -Infinity,
    dirty: { list: false, tree: false, tl: false, head: false },
    raf: 0, tlAt: 0,
    countsDirty: false, treeAt: 0, treeTimer: 0,
    firstScreen: false,
  };

  // ---- helpers -----------------------------------------------------------

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function link(text, onclick, cls) {
    const a = el('a', cls, text);
    a.href = '#';
    a.addEventListener('click', (e) => { e.preventDefault(); onclick(); });
    return a;
  }
  function rel(t) {
    if (!t || !S.t0) return '';
    return '+' + ((t - S.t0) / 1000).toFixed(3) + 's';
  }
  function schedule(...parts) {
    for (const p of parts) S.dirty[p] = true;
    if (!S.raf) S.raf = requestAnimationFrame(frame);
  }
  function frame(now) {
    S.raf = 0;
    const start = performance.now();
    while (S.inbox.length && (!S.evs.length || performance.now() - start < FRAME_BUDGET)) {
      addEvents(JSON.parse(S.inbox.shift()));
    }
    if (S.inbox.length) schedule();
    const d = S.dirty;
    if (d.head) { d.head = false; renderHead(); }
    if (S.countsDirty && !d.tree) {
      // The tree's counts follow the events, once a second at most.
      const wait = S.treeAt + 1000 - now;
      if (wait <= 0) d.tree = true;
      else if (!S.treeTimer) S.treeTimer = setTimeout(() => { S.treeTimer = 0; schedule(); }, wait);
    }
    if (d.tree) { d.tree = false; S.countsDirty = false; S.treeAt = now; renderTree(); }
    if (d.list) { d.list = false; renderList(); }
    if (d.tl) {
      if (now - S.tlAt >= 200 || S.tlAt === 0) { d.tl = false; S.tlAt = now; drawTimeline(); } else schedule();
    }
  }

  // ---- filters -----------------------------------------------------------

  function match(e) {
    if (S.hidden.has(e.ev.kind)) return false;
    if (S.onlyViol && !S.viol.has(e.id)) return false;
    if (S.onlyInc && !e.inc) return false;
    if (S.pset && !S.pset.has(e.ev.proc.pid)) return false;
    if (S.from !== null && !(e.t >= S.from && e.t <= S.to)) return false;
    if (S.q) {
      if (e.l === undefined) e.l = (e.proc + ' ' + e.text + (e.inc ? ' ' + e.inc : '')).toLowerCase();
      if (!e.l.includes(S.q)) return false;
    }
    return true;
  }
  // refilter applies the filters anew. After a change of the filters
  // (moved), the list shows the selected event if it is still there, else
  // its top (or, when following, its end); else it stays where it is.
  function refilter(moved = true) {
    const f = [];
    for (const i of S.order) if (match(S.evs[i])) f.push(i);
    S.filt = f;
    const sel = S.at.get(S.sel);
    if (moved && !S.follow && !(sel !== undefined && scrollToEvent(sel))) $('list').scrollTop = 0;
    schedule('list', 'head');
  }
  function processSet() {
    if (!S.proc) return null;
    const set = new Set([S.proc.pid]);
    const n = S.nodes.get(S.proc.pid);
    if (n && S.pmode === 'tree') {
      const walk = (p) => { set.add(p.pid); (p.children || []).forEach(walk); };
      walk(n);
    }
    return set;
  }
  function setProcess(pid) {
    const n = S.nodes.get(pid);
    S.proc = pid ? { pid, name: n ? n.proc : String(pid) } : null;
    S.pset = processSet();
    $('pfilter').hidden = !S.proc;
    if (S.proc) $('pname').textContent = S.proc.name;
    refilter();
    schedule('tree');
  }
  function setTime(from, to) {
    S.from = from; S.to = to;
    $('tfilter').hidden = from === null;
    $('tlsel').hidden = from === null;
    if (from !== null) $('trange').textContent = rel(from) + ' … ' + rel(to);
    refilter();
    schedule('tl');
  }
  function clearFilters() {
    S.q = ''; $('q').value = '';
    S.hidden.clear();
    S.onlyViol = S.onlyInc = false;
    $('onlyViol').checked = $('onlyInc').checked = false;
    S.proc = null; S.pset = null; $('pfilter').hidden = true;
    S.from = S.to = null; $('tfilter').hidden = true; $('tlsel').hidden = true;
    refilter();
    schedule('tree', 'tl');
  }

  // ---- the stream ---------------------------------------------------------

  function addEvents(batch) {
    for (const e of batch) {
      if (S.at.has(e.id)) continue;
      const i = S.evs.length;
      S.evs.push(e);
      S.at.set(e.id, i);
      const k = e.ev.kind;
      S.counts.set(k, (S.counts.get(k) || 0) + 1);
      const pid = e.ev.proc.pid;
      if (pid) { S.pidCount.set(pid, (S.pidCount.get(pid) || 0) + 1); S.countsDirty = true; }
      if (e.t > 0) {
        if (!S.t0) S.t0 = e.t;
        if (e.t < S.tmin) S.tmin = e.t;
        if (e.t > S.tmax) S.tmax = e.t;
      }
      // Events come as the tracers deliver them, which across kinds is not
      // quite time order; the list shows them in time order, as a capture
      // has them. An event without kernel time stays where it came.
      e.k = e.ev.ktime_ns || S.lastK;
      if (e.k > S.lastK) S.lastK = e.k;
      insert(S.order, i);
      if (match(e)) insert(S.filt, i);
    }
    schedule('list', 'head', 'tl');
  }

  // before reports whether evs[i] comes before evs[j] in the list.
  function before(i, j) {
    const a = S.evs[i], b = S.evs[j];
    return a.k < b.k || (a.k === b.k && a.id < b.id);
  }
  // position returns where evs[i] goes in list, a list of indexes in time order.
  function position(list, i) {
    let lo = 0, hi = list.length;
    if (!hi || before(list[hi - 1], i)) return hi;
    while (lo < hi) { const m = (lo + hi) >> 1; if (before(list[m], i)) lo = m + 1; else hi = m; }
    return lo;
  }
  function insert(list, i) {
    const p = position(list, i);
    if (p === list.length) list.push(i); else list.splice(p, 0, i);
  }

  function connect() {
    const es = new EventSource('events');
    es.addEventListener('status', (m) => {
      S.status = JSON.parse(m.data);
      if (!S.kinds.length) {
        S.kinds = S.status.kinds;
        renderKinds();
        S.follow = !S.status.done;
        $('follow').checked = S.follow;
      }
      schedule('head');
    });
    // Batches wait in the inbox for the next frame, which takes what its
    // time allows: the page paints and answers while a large trace loads.
    es.addEventListener('events', (m) => { S.inbox.push(m.data); schedule(); });
    es.addEventListener('tree', (m) => {
      S.tree = JSON.parse(m.data);
      S.nodes.clear();
      const index = (p) => { S.nodes.set(p.pid, p); (p.children || []).forEach(index); };
      S.tree.roots.forEach(index);
      if (S.proc) { S.pset = processSet(); refilter(false); }
      schedule('tree');
    });
    es.addEventListener('verdict', (m) => {
      S.verdict = JSON.parse(m.data);
      S.viol.clear();
      for (const v of S.verdict.violations) {
        if (!v.id) continue;
        if (!S.viol.has(v.id)) S.viol.set(v.id, []);
        S.viol.get(v.id).push(v);
      }
      if (S.onlyViol) refilter(false);
      schedule('head', 'list', 'tree');
      if (S.sel) renderDetail(S.sel);
    });
    es.onopen = () => { S.connected = true; schedule('head'); };
    es.onerror = () => { S.connected = false; schedule('head'); };
  }

  // ---- header and alerts -----------------------------------------------------

  function renderKinds() {
    const box = $('kinds');
    box.textContent = '';
    for (const k of S.kinds) {
      const b = el('button', 'chip k-' + k);
      b.dataset.kind = k;
      b.addEventListener('click', () => {
        if (S.hidden.has(k)) S.hidden.delete(k); else S.hidden.add(k);
        refilter();
      });
      box.appendChild(b);
    }
  }

  function renderHead() {
    const st = S.status;
    if (!st) return;
    document.title = 'tracep ' + (st.title || '');
    $('title').textContent = st.title || '';
    const state = $('state');
    if (st.done) {
      state.className = 'state done';
      state.textContent = st.status || 'done';
    } else if (S.connected === false) {
      state.className = 'state off';
      state.textContent = 'disconnected, reconnecting…';
    } else {
      state.className = 'state live';
      state.textContent = 'live';
    }
    const loaded = S.evs.length, want = st.total - st.dropped;
    $('total').textContent = st.total + ' events' + (loaded < want ? ' (loading ' + loaded + ')' : '');
    for (const b of $('kinds').children) {
      const k = b.dataset.kind;
      b.textContent = k + ' ' + (S.counts.get(k) || 0);
      b.classList.toggle('off', S.hidden.has(k));
    }
    $('shown').textContent = S.filt.length === S.evs.length ? '' : S.filt.length + ' shown';

    const loss = $('loss');
    loss.hidden = !st.lost.length;
    if (st.lost.length) loss.textContent = '⚠ Events lost, this trace is incomplete: ' + st.lost.join('; ');
    const dropped = $('dropped');
    dropped.hidden = !st.dropped;
    if (st.dropped) dropped.textContent = '⚠ ' + st.dropped + ' oldest events are not on this page: the server keeps a bounded history';
    const inc = $('incomplete');
    inc.hidden = !st.incomplete;
    if (st.incomplete) {
      inc.textContent = '⚠ ' + st.incomplete + (st.incomplete === 1 ? ' event' : ' events') + ' not captured whole';
      inc.appendChild(link(S.onlyInc ? 'show all' : 'show them', () => {
        S.onlyInc = !S.onlyInc; $('onlyInc').checked = S.onlyInc; refilter();
      }));
    }
    const notes = $('notes');
    notes.hidden = !st.notes.length;
    notes.textContent = '';
    for (const n of st.notes) notes.appendChild(el('div', 'mono', n));
    renderVerdict();
    if (loaded >= want && st.done && !S.loaded) {
      S.loaded = true;
      schedule('tree'); // its counts and marks, now complete
      afterPaint(() => { window.tracepLoaded = performance.now(); });
    }
  }

  function renderVerdict() {
    const box = $('verdict');
    const v = S.verdict;
    box.hidden = !v;
    if (!v) return;
    box.textContent = '';
    const n = v.violations.length;
    if (n) {
      box.className = 'alert viol';
      box.appendChild(el('b', null, '✖ ' + n + ' policy violation' + (n > 1 ? 's' : '')));
      if (v.incomplete) box.appendChild(why('and more may hide: ', v.incomplete));
      const ul = el('ul');
      for (const x of v.violations) {
        const li = el('li', 'v-item');
        li.appendChild(el('span', 'mono v-event', x.event));
        li.appendChild(el('div', 'v-reason', x.reason));
        if (x.chain) li.appendChild(el('div', 'mono v-chain', 'process: ' + x.chain));
        if (x.id) li.addEventListener('click', () => select(x.id, true));
        ul.appendChild(li);
      }
      box.appendChild(ul);
    } else if (v.incomplete) {
      box.className = 'alert warn';
      box.appendChild(why('⚠ no violation seen, but the policy cannot be verified: ', v.incomplete));
    } else {
      box.className = 'alert ok';
      box.textContent = '✔ the trace keeps the policy';
    }
  }

  // why shows a verdict's reason it is incomplete, opened on demand when long.
  function why(lead, text) {
    if (text.length <= 160) return el('div', null, lead + text);
    const d = el('details', 'why');
    d.append(el('summary', null, lead + text.slice(0, 120) + '…'), el('div', 'mono', text));
    return d;
  }

  // ---- the process tree ---------------------------------------------------------

  function renderTree() {
    const box = $('tree');
    if (!S.tree || !S.tree.roots.length) return;
    const scroll = box.scrollTop;
    box.textContent = '';
    const violPids = new Set();
    for (const id of S.viol.keys()) {
      const i = S.at.get(id);
      if (i !== undefined) violPids.add(S.evs[i].ev.proc.pid);
    }
    const node = (p) => {
      const li = el('li');
      const d = el('div', 'node');
      d.dataset.pid = p.pid;
      if (S.proc && S.proc.pid === p.pid) d.classList.add('sel');
      if (S.focusPid === p.pid) d.classList.add('focus');
      if (violPids.has(p.pid)) d.classList.add('viol');
      d.appendChild(el('span', 'n-proc', p.proc));
      if (p.exit) d.appendChild(el('span', 'n-exit' + (p.failed ? ' bad' : ''), p.exit));
      d.appendChild(el('span', 'n-count', '(' + (S.pidCount.get(p.pid) || 0) + ')'));
      if (p.argv) d.appendChild(el('span', 'n-argv', p.argv));
      d.title = p.proc + (p.argv ? ' ' + p.argv : '') + (p.exit ? ' · ' + p.exit : '');
      li.appendChild(d);
      const kids = p.children || [];
      if (kids.length) {
        const ul = el('ul');
        // A large tree shows the first children of each process; the rest
        // on demand (and always the one in focus).
        const all = S.expanded.has(p.pid) || kids.length <= TREE_CHILDREN;
        kids.forEach((c, i) => {
          if (all || i < TREE_CHILDREN || c.pid === S.focusPid || (S.proc && c.pid === S.proc.pid)) ul.appendChild(node(c));
        });
        if (!all) {
          const more = el('li');
          more.appendChild(link('… all ' + kids.length + ' children', () => { S.expanded.add(p.pid); schedule('tree'); }, 'n-more'));
          ul.appendChild(more);
        }
        li.appendChild(ul);
      }
      return li;
    };
    const ul = el('ul');
    S.tree.roots.forEach((p) => ul.appendChild(node(p)));
    box.appendChild(ul);
    box.scrollTop = scroll;
  }

  // ---- the event list -----------------------------------------------------------

  const pool = [];
  function renderList() {
    const list = $('list');
    $('spacer').style.height = S.filt.length * ROW + 'px';
    if (S.follow) list.scrollTop = list.scrollHeight;
    const top = list.scrollTop, h = list.clientHeight;
    const a = Math.max(0, Math.floor(top / ROW) - 4);
    const b = Math.min(S.filt.length, Math.ceil((top + h) / ROW) + 4);
    while (pool.length < b - a) {
      const r = el('div', 'row');
      r.append(el('span', 'c-id'), el('span', 'c-t'), el('span', 'c-k'), el('span', 'c-p'), el('span', 'c-x'), el('span', 'c-inc'));
      list.appendChild(r);
      pool.push(r);
    }
    for (let j = 0; j < pool.length; j++) {
      const r = pool[j];
      if (a + j >= b) { r.hidden = true; continue; }
      const e = S.evs[S.filt[a + j]];
      r.hidden = false;
      r.style.top = (a + j) * ROW + 'px';
      r.dataset.id = e.id;
      r.className = 'row k-' + e.ev.kind + (S.viol.has(e.id) ? ' viol' : '') + (e.id === S.sel ? ' sel' : '') + (e.inc ? ' inc' : '');
      const c = r.children;
      c[0].textContent = e.id;
      c[1].textContent = rel(e.t);
      c[2].textContent = e.ev.kind;
      c[3].textContent = e.proc;
      c[4].textContent = e.text;
      c[5].textContent = e.inc || '';
      c[5].hidden = !e.inc;
    }
    if (!S.firstScreen && b > a) {
      S.firstScreen = true;
      afterPaint(() => { window.tracepFirstScreen = performance.now(); });
    }
  }
  function afterPaint(f) { requestAnimationFrame(() => requestAnimationFrame(f)); }

  // scrollTo puts the event at index i of evs in view, if shown.
  function scrollToEvent(i) {
    const lo = position(S.filt, i);
    if (S.filt[lo] !== i) return false;
    const list = $('list'), y = lo * ROW;
    $('spacer').style.height = S.filt.length * ROW + 'px'; // before scrolling in it
    if (y < list.scrollTop || y + ROW > list.scrollTop + list.clientHeight) list.scrollTop = y - list.clientHeight / 3;
    return true;
  }

  // ---- the detail of one event ------------------------------------------------------

  function select(id, reveal) {
    const i = S.at.get(id);
    if (i === undefined) return;
    S.sel = id;
    if (reveal) {
      S.follow = false; $('follow').checked = false;
      if (!match(S.evs[i])) clearFilters();
      scrollToEvent(i);
    }
    S.focusPid = S.evs[i].ev.proc.pid;
    renderDetail(id);
    schedule('list', 'tree');
  }

  function ref(r, cls) {
    const box = el('span', cls);
    box.appendChild(link(r.event, () => select(r.id, true), 'ref'));
    return box;
  }
  function procLink(r, cls) {
    return r.exec ? link(r.proc, () => select(r.exec, true), cls) : el('span', cls, r.proc);
  }

  function renderDetail(id) {
    const box = $('detail');
    const e = S.evs[S.at.get(id)];
    box.textContent = '';
    const head = el('div', 'd-head');
    head.append(el('span', 'c-k k-' + e.ev.kind, e.ev.kind), ' #' + e.id + '  ' + (e.ev.time || ''));
    box.appendChild(head);
    const text = el('div', 'd-text');
    text.append(el('b', null, e.proc), ' ', e.text);
    box.appendChild(text);
    if (e.inc) box.appendChild(el('div', 'd-inc', '⚠ incomplete: ' + e.inc));
    for (const v of S.viol.get(id) || []) {
      const d = el('div', 'd-viol');
      d.append(el('b', null, '✖ policy violation: '), v.reason);
      if (v.chain) d.appendChild(el('div', 'mono', 'process: ' + v.chain));
      box.appendChild(d);
    }
    const dl = el('dl', 'd-links');
    dl.appendChild(el('dt', null, 'links'));
    dl.appendChild(el('dd', 'hint', '…'));
    box.appendChild(dl);
    const pre = el('details');
    pre.open = true;
    pre.append(el('summary', null, 'JSON (as tracep -j writes it)'), el('pre', null, JSON.stringify(e.ev, null, 2)));
    box.appendChild(pre);

    fetch('links?id=' + id).then((r) => r.ok ? r.json() : null).then((l) => {
      if (S.sel !== id) return;
      dl.textContent = '';
      const row = (name, value, cls) => {
        const dd = el('dd', cls);
        dd.append(value);
        dl.append(el('dt', null, name), dd);
      };
      if (!l) { row('links', 'this event is no longer kept'); return; }
      if (l.chain && l.chain.length) {
        const dd = el('span', 'l-chain');
        l.chain.forEach((p, i) => {
          if (i) dd.append(el('span', 'sep', ' ← '));
          dd.append(procLink(p));
        });
        row('process', dd);
        if (l.chain.length > 1) row('parent', procLink(l.chain[1], 'l-parent'));
      }
      if (e.ev.kind === 'net') {
        if (l.answer) {
          row('DNS answer', ref(l.answer, 'l-answer'));
          row('asked by', procLink(l.answer, 'l-asker'));
        } else row('DNS answer', el('span', 'hint l-answer', 'none in this trace'));
      }
      if (e.ev.kind === 'tls') {
        if (l.connection) row('connection', ref(l.connection, 'l-connection'));
        else row('connection', el('span', 'hint l-connection', 'none in this trace'));
        if (l.sni) row('server name', el('span', 'l-sni', l.sni));
      }
    });
  }

  // ---- the timeline -------------------------------------------------------------

  function drawTimeline() {
    const cv = $('tl');
    const W = cv.clientWidth, H = cv.clientHeight, dpr = window.devicePixelRatio || 1;
    if (cv.width !== W * dpr || cv.height !== H * dpr) { cv.width = W * dpr; cv.height = H * dpr; }
    const g = cv.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    if (!(S.tmax >= S.tmin) || !S.kinds.length) return;
    const nb = Math.max(1, Math.floor(W / 4));
    const span = Math.max(S.tmax - S.tmin, 1);
    const K = S.kinds.length;
    const counts = new Uint32Array(nb * K);
    const ki = new Map(S.kinds.map((k, i) => [k, i]));
    for (const e of S.evs) {
      if (!(e.t > 0)) continue;
      const b = Math.min(nb - 1, Math.floor((e.t - S.tmin) / span * nb));
      const k = ki.get(e.ev.kind);
      if (k !== undefined) counts[b * K + k]++;
    }
    let max = 1;
    for (let b = 0; b < nb; b++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += counts[b * K + k];
      if (s > max) max = s;
    }
    const css = getComputedStyle(document.documentElement);
    const colors = S.kinds.map((k) => css.getPropertyValue('--k-' + k).trim() || css.getPropertyValue('--k-other').trim());
    const bw = W / nb, top = 12, h = H - top - 2;
    for (let b = 0; b < nb; b++) {
      let y = H - 1;
      for (let k = 0; k < K; k++) {
        const c = counts[b * K + k];
        if (!c) continue;
        const bh = Math.max(1, c / max * h);
        g.fillStyle = colors[k];
        g.fillRect(b * bw, y - bh, Math.max(1, bw - 1), bh);
        y -= bh;
      }
    }
    g.fillStyle = '#6b6b70';
    g.font = '10px system-ui, sans-serif';
    g.textBaseline = 'top';
    g.fillText(rel(S.tmin) || '', 4, 1);
    const end = rel(S.tmax) + '  ·  peak ' + max + ' events per ' + (span / nb).toFixed(span / nb < 10 ? 2 : 0) + ' ms';
    g.fillText(end, W - g.measureText(end).width - 4, 1);
    if (S.from !== null) {
      const sel = $('tlsel');
      sel.style.left = (S.from - S.tmin) / span * W + 'px';
      sel.style.width = Math.max(2, (S.to - S.from) / span * W) + 'px';
    }
  }

  function timelineDrag() {
    const box = $('timeline');
    let x0 = null;
    const timeAt = (x) => S.tmin + Math.min(1, Math.max(0, x / box.clientWidth)) * Math.max(S.tmax - S.tmin, 1);
    box.addEventListener('mousedown', (e) => { x0 = e.offsetX; });
    box.addEventListener('mouseup', (e) => {
      if (x0 === null || !(S.tmax >= S.tmin)) return;
      const x1 = e.offsetX;
      if (Math.abs(x1 - x0) < 3) setTime(null, null);
      else setTime(timeAt(Math.min(x0, x1)), timeAt(Math.max(x0, x1)));
      x0 = null;
    });
  }

  // ---- wiring ---------------------------------------------------------------------

  function init() {
    let qTimer = 0;
    $('q').addEventListener('input', () => {
      clearTimeout(qTimer);
      qTimer = setTimeout(() => { S.q = $('q').value.trim().toLowerCase(); refilter(); }, 80);
    });
    $('onlyViol').addEventListener('change', (e) => { S.onlyViol = e.target.checked; refilter(); });
    $('onlyInc').addEventListener('change', (e) => { S.onlyInc = e.target.checked; refilter(); schedule('head'); });
    $('follow').addEventListener('change', (e) => { S.follow = e.target.checked; schedule('list'); });
    $('pmode').addEventListener('change', (e) => { S.pmode = e.target.value; S.pset = processSet(); refilter(); });
    $('pclear').addEventListener('click', () => setProcess(0));
    $('tree').addEventListener('click', (e) => {
      const d = e.target.closest('.node');
      if (!d) return;
      const pid = Number(d.dataset.pid), p = S.nodes.get(pid);
      setProcess(S.proc && S.proc.pid === pid ? 0 : pid);
      if (p && p.exec) select(p.exec, false);
    });
    $('tclear').addEventListener('click', () => setTime(null, null));
    const list = $('list');
    list.addEventListener('scroll', () => {
      const atEnd = list.scrollTop + list.clientHeight >= list.scrollHeight - ROW;
      if (S.follow !== atEnd && S.status && !S.status.done) { S.follow = atEnd; $('follow').checked = atEnd; }
      schedule('list');
    });
    list.addEventListener('click', (e) => {
      const r = e.target.closest('.row');
      if (r) select(Number(r.dataset.id), false);
    });
    window.addEventListener('resize', () => schedule('list', 'tl'));
    timelineDrag();
    connect();
  }
  init();
})();
