// firegrid dispatcher console. Everything comes from this origin's token-protected /api/v1.
'use strict';

const L = {
  zh: {
    title: '消防调度台', login_title: '令牌登录', login: '登录', logout: '退出', token_placeholder: 'API 令牌',
    login_hint: '输入调度员、消防站或网格员的 API 令牌。令牌只保存在本浏览器标签页中。',
    bad_token: '令牌无效或已失效', incidents: '事件', show_closed: '显示已结束', no_incidents: '暂无进行中的事件',
    pick: '选择一个事件查看详情', dismiss: '知道了', sound_on: '开启声音', live_title: '实时连接状态',
    live_on: '● 实时', live_poll: '◐ 轮询', live_off: '○ 离线', all_view: '全部辖区', station_view: '站点视图',
    grid_view: '网格视图', new_critical: '新的危急事件', evidence: '证据读数', dispatch_log: '调度记录',
    audit: '处置记录', clock_ack: '确认时限（超时升级）', clock_scene: '到场时限', clock_hazard: '隐患确认时限',
    overdue: '已超时', closed: '已结束', note: '备注（可选）', done: '已提交', location: '位置', site: '场所',
    devices: '设备', opened: '发生时间', signals: '信号', vulnerable: '特殊群体', ago_s: '秒前', ago_m: '分钟前',
    ago_h: '小时前', time: '时间', device: '设备', reading: '读数', reason: '原因', target: '接收方', role: '任务',
    channel: '通道', delivered: '已送达', pending: '待送达', failed: '失败', event: '事件', by: '操作人',
    no_rows: '无', stations: '消防站', unavailable: '不可用', count_active: '进行中', count_critical: '危急',
    devices_alarm: '台设备报警', map_all: '全域', map_focus: '聚焦事件', forbidden: '无权操作', escalates: '未确认将升级至下一站',
    unroutable_banner: '起事件无可用接警力量，尚未派出（有站点恢复可用或登记表更新后自动派出）', unroutable: '无人可派',
    abandoned: '已放弃',
    unverified: '待核实',
  },
  en: {
    title: 'Fire dispatch console', login_title: 'Token login', login: 'Log in', logout: 'Log out',
    token_placeholder: 'API token',
    login_hint: 'Enter a dispatcher, station or grid manager API token. It is kept only in this browser tab.',
    bad_token: 'Invalid or expired token', incidents: 'Incidents', show_closed: 'Show closed',
    no_incidents: 'No active incidents', pick: 'Select an incident for details', dismiss: 'Dismiss',
    sound_on: 'Enable sound', live_title: 'Live connection', live_on: '● live', live_poll: '◐ polling',
    live_off: '○ offline', all_view: 'All areas', station_view: 'Station view', grid_view: 'Grid view',
    new_critical: 'New critical incident', evidence: 'Evidence readings', dispatch_log: 'Dispatch log',
    audit: 'Audit trail', clock_ack: 'Acknowledge by (then escalates)', clock_scene: 'On scene by',
    clock_hazard: 'Hazard acknowledge by', overdue: 'overdue', closed: 'Closed', note: 'Note (optional)',
    done: 'Done', location: 'Location', site: 'Site', devices: 'Devices', opened: 'Opened', signals: 'Signals',
    vulnerable: 'vulnerable', ago_s: 's ago', ago_m: 'min ago', ago_h: 'h ago', time: 'Time', device: 'Device',
    reading: 'Reading', reason: 'Reason', target: 'Recipient', role: 'Role', channel: 'Channel',
    delivered: 'delivered', pending: 'pending', failed: 'failed', event: 'Event', by: 'By', no_rows: 'none',
    stations: 'Stations', unavailable: 'unavailable', count_active: 'active', count_critical: 'critical',
    devices_alarm: 'alarming', map_all: 'Overview', map_focus: 'Focus incidents', forbidden: 'Not allowed', escalates: 'escalates to the next station if unacknowledged',
    unroutable_banner: 'incident(s) have no available station or grid manager and are not dispatched (sent as soon as a station becomes available or the registry changes)',
    unroutable: 'unroutable', abandoned: 'abandoned',
    unverified: 'unverified',
  },
};
const N = {
  zh: {
    fire: '火灾', electrical_fire: '电气火灾', forest_fire: '森林火情', hazard: '隐患',
    critical: '危急', high: '高', medium: '中', low: '低',
    open: '新建', dispatched: '已派警', acknowledged: '已接警', on_scene: '已到场', resolved: '已处置',
    false_alarm: '误报', rectified: '已整改',
    ack: '确认接警', resolve: '处置完毕', confirm: '确认火情',
    opened: '发生', escalated: '升级', confirmed: '确认',
    respond: '出警', verify: '核实', rectify: '整改', forward_119: '转报119',
    micro: '微型消防站', township_team: '乡镇专职队', volunteer: '志愿消防队', district: '区县消防救援站',
    forest_team: '森林消防队', mqtt: 'MQTT', webhook: 'Webhook', sse: '调度台',
    residential: '住宅', rental: '群租房', small_venue: '九小场所', elderly_care: '养老机构', school: '学校',
    hospital: '医院', ancient_town: '古镇古村', factory: '工厂', forest: '林区', other: '其他',
    smoke: '烟感', heat: '温感', electrical: '电气', hotspot: '热点', forest_ir: '林火红外',
    fault: '故障', tamper: '防拆', battery_low: '电量低', residual_prealarm: '剩余电流预警', smoke_prealarm: '烟雾预警',
    offline: '离线', unregistered_device: '未登记设备', late_alarm: '迟到报警',
  },
  en: {
    fire: 'Fire', electrical_fire: 'Electrical fire', forest_fire: 'Forest fire', hazard: 'Hazard',
    critical: 'critical', high: 'high', medium: 'medium', low: 'low',
    open: 'open', dispatched: 'dispatched', acknowledged: 'acknowledged', on_scene: 'on scene', resolved: 'resolved',
    false_alarm: 'false alarm', rectified: 'rectified',
    ack: 'Acknowledge', resolve: 'Resolve', confirm: 'Confirm fire',
    opened: 'opened', escalated: 'escalated', confirmed: 'confirmed',
    respond: 'respond', verify: 'verify', rectify: 'rectify', forward_119: 'forward to 119',
    micro: 'micro station', township_team: 'township team', volunteer: 'volunteer team', district: 'district station',
    forest_team: 'forest team', mqtt: 'MQTT', webhook: 'webhook', sse: 'console',
    residential: 'residential', rental: 'rental', small_venue: 'small venue', elderly_care: 'elderly care',
    school: 'school', hospital: 'hospital', ancient_town: 'ancient town', factory: 'factory', forest: 'forest',
    other: 'other', smoke: 'smoke', heat: 'heat', electrical: 'electrical', hotspot: 'hotspot', forest_ir: 'forest IR',
    fault: 'fault', tamper: 'tamper', battery_low: 'low battery', residual_prealarm: 'residual current pre-alarm',
    smoke_prealarm: 'smoke pre-alarm', offline: 'offline', unregistered_device: 'unregistered device',
    late_alarm: 'late alarm',
  },
};
const ACTION_LABEL = {
  zh: { ack: '确认接警', on_scene: '到达现场', resolve: '处置完毕', false_alarm: '误报', confirm: '确认火情', rectified: '已整改' },
  en: { ack: 'Acknowledge', on_scene: 'On scene', resolve: 'Resolve', false_alarm: 'False alarm', confirm: 'Confirm fire',
    rectified: 'Rectified' },
};
const SEV_RANK = { critical: 4, high: 3, medium: 2, low: 1 };
const TERMINAL = new Set(['resolved', 'false_alarm', 'rectified']);
const SEV_COLOR = { critical: '#ff3b30', high: '#ff8a00', medium: '#f2c230', low: '#6aa7d8' };
const TIER_STYLE = {
  micro: { color: '#3d8bfd', size: 7 }, township_team: { color: '#8c7bff', size: 9 },
  volunteer: { color: '#2bb5a8', size: 7 }, district: { color: '#d0d8e4', size: 11 }, forest_team: { color: '#3fb950', size: 9 },
};
const SVGNS = 'http://www.w3.org/2000/svg'; // the SVG namespace's name, never fetched

const params = new URLSearchParams(location.search);
const S = {
  token: sessionStorage.getItem('firegrid.token') || '',
  lang: params.get('lang') || localStorage.getItem('firegrid.lang') || 'zh',
  station: params.get('station') || '',
  me: null, stations: [], stationById: new Map(), incidents: [], selected: null, detail: null, unroutable: [],
  seen: new Map(), primed: false, summaries: new Map(), fresh: new Map(),
  live: 'off', sseCtl: null, lastRefresh: 0, lastSseTry: 0, refreshing: false, pendingRefresh: false, audio: null,
};
window.__firegrid = { alarms: 0, refreshes: 0, errors: [], unroutable: 0, streams: 0 };
window.addEventListener('error', (e) => window.__firegrid.errors.push(String(e.message || e)));
window.addEventListener('unhandledrejection', (e) => window.__firegrid.errors.push(String(e.reason)));

const $ = (id) => document.getElementById(id);
const t = (k) => (L[S.lang] && L[S.lang][k]) || L.zh[k] || k;
const n = (k) => (k == null ? '' : (N[S.lang][k] || k));

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of kids.flat()) if (c != null && c !== false) el.append(c.nodeType ? c : String(c));
  return el;
}
function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v); else el.setAttribute(k, v);
  }
  for (const c of kids.flat()) if (c != null) el.append(c.nodeType ? c : String(c));
  return el;
}

// Asia/Shanghai is UTC+8 all year (no daylight saving): shift and read the UTC fields.
function fmt(ms, withDate) {
  if (ms == null || Number.isNaN(ms)) return '';
  const d = new Date(ms + 8 * 3600e3);
  const p = (x) => String(x).padStart(2, '0');
  const time = `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
  return withDate ? `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${time}` : time;
}
function ago(ms) {
  const sec = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (sec < 90) return `${sec} ${t('ago_s')}`;
  if (sec < 5400) return `${Math.round(sec / 60)} ${t('ago_m')}`;
  return `${Math.round(sec / 3600)} ${t('ago_h')}`;
}
function toast(msg, err) {
  const el = $('toast');
  el.textContent = msg;
  el.className = err ? 'toast err' : 'toast';
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 4000);
}

class AuthError extends Error {}
async function api(path, opts) {
  const o = Object.assign({ cache: 'no-store' }, opts || {});
  o.headers = Object.assign({ Authorization: `Bearer ${S.token}` }, o.headers || {});
  const r = await fetch(path, o);
  if (r.status === 401) throw new AuthError(t('bad_token'));
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.reason || `HTTP ${r.status}`);
  return body;
}

// ---------- i18n ----------
function applyLang() {
  document.documentElement.lang = S.lang === 'zh' ? 'zh-CN' : 'en';
  document.title = `firegrid ${t('title')}`;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of document.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
  $('lang').textContent = S.lang === 'zh' ? 'EN' : '中文';
  $('map-all').textContent = t(S.mapAll ? 'map_focus' : 'map_all');
  setLive(S.live);
  if (S.me) { renderHeader(); renderList(); renderMap(); renderDetail(); renderAlarm(); renderUnroutable(); }
}

// ---------- login ----------
function showLogin(msg) {
  stopStream();
  S.me = null;
  S.incidents = []; S.detail = null; S.selected = null; S.seen.clear(); S.primed = false; S.alarmList = [];
  S.unroutable = [];
  $('alarm').hidden = true;
  $('unroutable').hidden = true;
  // Nothing of the previous session stays in the page.
  $('list').replaceChildren();
  $('map').replaceChildren();
  $('detail').replaceChildren(h('p', { class: 'empty' }, t('pick')));
  $('counts').replaceChildren();
  $('view-label').textContent = '';
  $('live').hidden = true;
  $('app').hidden = true;
  $('logout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = msg || '';
  $('token').focus();
}
async function start() {
  try {
    S.me = await api('/api/v1/whoami');
  } catch (e) {
    if (e instanceof AuthError) { sessionStorage.removeItem('firegrid.token'); S.token = ''; }
    showLogin(S.token ? e.message : '');
    if (!(e instanceof AuthError) && S.token) setTimeout(start, 3000);
    return;
  }
  S.station = params.get('station') || (S.me.role === 'station' ? S.me.subject : '');
  $('login').hidden = true;
  $('app').hidden = false;
  $('logout').hidden = false;
  $('live').hidden = false;
  try {
    const st = await api('/api/v1/stations');
    S.stations = st.stations || [];
    S.stationById = new Map(S.stations.map((x) => [x.station_id, x]));
  } catch (e) { toast(e.message, true); }
  renderHeader();
  await refresh();
  connectStream();
  // A page restored from sessionStorage has had no click yet: the browser keeps audio suspended until one.
  try {
    S.audio = S.audio || new AudioContext();
    S.audio.onstatechange = () => { $('sound').hidden = S.audio.state !== 'suspended'; };
    $('sound').hidden = S.audio.state !== 'suspended';
  } catch (_) { /* no audio device: the visual cue stays */ }
}

// ---------- data ----------
function visible(inc) {
  if (S.station && !(inc.notified_stations || []).includes(S.station)) return false;
  return true;
}
function order(a, b) {
  const ta = TERMINAL.has(a.status), tb = TERMINAL.has(b.status);
  if (ta !== tb) return ta ? 1 : -1;
  if (ta) return b.updated_at_ms - a.updated_at_ms;
  return (SEV_RANK[b.severity] - SEV_RANK[a.severity]) || (a.opened_at_ms - b.opened_at_ms);
}
async function refresh() {
  if (S.refreshing) { S.pendingRefresh = true; return; }
  S.refreshing = true;
  S.lastRefresh = Date.now();
  try {
    const r = await api('/api/v1/incidents?limit=500');
    window.__firegrid.refreshes++;
    if (S.live === 'off') setLive(S.sseUp ? 'on' : 'poll');
    const list = (r.incidents || []).filter(visible).sort(order);
    const newCritical = [];
    for (const inc of list) {
      const prev = S.seen.get(inc.id);
      const critNow = inc.severity === 'critical' && !TERMINAL.has(inc.status);
      if (S.primed && critNow && (prev === undefined || prev !== 'critical')) newCritical.push(inc);
      if (S.primed && prev === undefined) S.fresh.set(inc.id, Date.now());
      S.seen.set(inc.id, inc.severity);
    }
    S.incidents = list;
    await loadUnroutable();
    const first = !S.primed;
    S.primed = true;
    if (newCritical.length) alarm(newCritical);
    else if (first && !S.selected && list.length && !TERMINAL.has(list[0].status)) select(list[0].id);
    renderHeader();
    renderList();
    renderMap();
    renderUnroutable();
    if (S.selected) await loadDetail(S.selected, true);
  } catch (e) {
    if (e instanceof AuthError) { showLogin(e.message); return; }
    setLive('off');
  } finally {
    S.refreshing = false;
    if (S.pendingRefresh) { S.pendingRefresh = false; setTimeout(refresh, 0); }
  }
}
let refreshTimer = null;
function soonRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 150);
}

// ---------- live stream (SSE over fetch, so it can carry the Authorization header) ----------
function setLive(mode) {
  S.live = mode;
  const el = $('live');
  el.className = `live ${mode}`;
  el.textContent = t(`live_${mode}`);
}
function stopStream() {
  if (S.sseCtl) S.sseCtl.abort();
  S.sseCtl = null;
}
// One stream at a time: the clock's tick may open it while start() still awaits its first
// refresh, and start() must not then abort that fetch to open a second (a logout or a new login
// goes through showLogin, which stops the stream first).
async function connectStream() {
  if (S.sseCtl) return;
  window.__firegrid.streams++;
  S.lastSseTry = Date.now();
  const ctl = new AbortController();
  S.sseCtl = ctl;
  try {
    const r = await fetch('/api/v1/events', { headers: { Authorization: `Bearer ${S.token}`, Accept: 'text/event-stream' },
      signal: ctl.signal, cache: 'no-store' });
    if (!r.ok || !r.body) throw new Error(`events: HTTP ${r.status}`);
    S.sseUp = true;
    setLive('on');
    soonRefresh();
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf = (buf + value).replace(/\r\n/g, '\n');
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        onEvent(buf.slice(0, i));
        buf = buf.slice(i + 2);
      }
    }
  } catch (e) {
    if (ctl.signal.aborted) { S.sseUp = false; return; }
  }
  S.sseUp = false;
  if (S.sseCtl === ctl) { S.sseCtl = null; if (S.me) setLive('poll'); }
}
function onEvent(block) {
  let ev = 'message', data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) ev = line.slice(6).trim();
    else if (line.startsWith('data:')) data += line.slice(5).replace(/^ /, '');
  }
  if (ev === 'dispatch') {
    try {
      const m = JSON.parse(data);
      if (m.summary_zh) S.summaries.set(m.incident_id, m.summary_zh);
    } catch (_) { /* a message that is not JSON only triggers a refresh */ }
  }
  if (ev === 'dispatch' || ev === 'lagged') soonRefresh();
}

// ---------- cue for a new critical incident ----------
function beep() {
  try {
    S.audio = S.audio || new AudioContext();
    if (S.audio.state === 'suspended') { S.audio.resume(); $('sound').hidden = false; }
    const t0 = S.audio.currentTime + 0.02;
    for (let k = 0; k < 6; k++) {
      const o = S.audio.createOscillator(), g = S.audio.createGain();
      o.type = 'square';
      o.frequency.value = k % 2 ? 660 : 990;
      const at = t0 + k * 0.28;
      g.gain.setValueAtTime(0.0001, at);
      g.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, at + 0.25);
      o.connect(g).connect(S.audio.destination);
      o.start(at);
      o.stop(at + 0.26);
    }
  } catch (_) { /* no audio device: the visual cue stays */ }
}
function alarm(list) {
  window.__firegrid.alarms += list.length;
  S.alarmList = list;
  renderAlarm();
  $('alarm').hidden = false;
  $('alarm').dataset.incident = list[0].id;
  beep();
  // Bring it up unless the dispatcher is on another critical incident (the banner opens it).
  const cur = S.incidents.find((i) => i.id === S.selected);
  if (!cur || cur.severity !== 'critical' || TERMINAL.has(cur.status)) select(list[0].id);
}
function renderAlarm() {
  const list = S.alarmList || [];
  if (!list.length) return;
  const inc = list[0];
  $('alarm-text').textContent = `${t('new_critical')}${S.lang === 'zh' ? '：' : ': '}${n(inc.class)} · ${place(inc)}` +
    (inc.vulnerable ? ` · ${t('vulnerable')}` : '') + (list.length > 1 ? ` (+${list.length - 1})` : '');
}

// ---------- incidents nobody could be sent to (dispatchers and admins only) ----------
async function loadUnroutable() {
  if (!S.me || !S.me.sees_all) { S.unroutable = []; return; }
  try {
    const r = await api('/api/v1/dispatch/unroutable');
    S.unroutable = r.incidents || [];
  } catch (e) {
    if (e instanceof AuthError) throw e;
    /* keep the last list: a banner must not vanish because one request failed */
  }
}
function renderUnroutable() {
  const list = S.unroutable || [];
  window.__firegrid.unroutable = list.length;
  $('unroutable').hidden = !list.length;
  if (!list.length) { $('unroutable-list').replaceChildren(); return; }
  $('unroutable-text').textContent = `${list.length} ${t('unroutable_banner')}${S.lang === 'zh' ? '：' : ': '}`;
  $('unroutable-list').replaceChildren(...list.map((u) => h('button', {
    type: 'button', class: 'unroutable-item', 'data-id': u.incident_id, title: u.incident_id, onclick: () => select(u.incident_id),
  }, `${n(u.class)} · ${place(u)} · ${ago(u.unroutable_since_ms)}`)));
}

// ---------- rendering ----------
function place(inc) {
  return inc.address || inc.community || inc.township || inc.county || '';
}
function line(inc) {
  if (S.lang === 'zh' && S.summaries.has(inc.id)) return S.summaries.get(inc.id);
  const devs = (inc.alarm_devices && inc.alarm_devices.length) || (inc.devices || []).length;
  const sig = (inc.signals || []).map(n).join('+');
  const vul = inc.vulnerable ? (S.lang === 'zh' ? '（特殊群体户）' : ' (vulnerable household)') : '';
  if (inc.class === 'hazard') {
    return S.lang === 'zh' ? `${place(inc)} ${sig || t('no_rows')}${vul}` : `${sig || 'hazard'} at ${place(inc)}${vul}`;
  }
  return S.lang === 'zh'
    ? `${place(inc)} ${devs} ${t('devices_alarm')}${sig ? `（${sig}）` : ''}${vul}`
    : `${devs} ${devs === 1 ? 'device' : 'devices'} alarming${sig ? ` (${sig})` : ''} at ${place(inc)}${vul}`;
}
function stationName(id) {
  if (id && id.startsWith('grid:')) return `${S.lang === 'zh' ? '网格' : 'grid'} ${id.slice(5)}`;
  const st = S.stationById.get(id);
  return st ? st.name : id;
}
function renderHeader() {
  const me = S.me;
  if (!me) return;
  let label = t('all_view');
  if (S.station) label = `${t('station_view')}：${stationName(S.station)}`;
  else if (me.role === 'grid') label = `${t('grid_view')}：${me.subject}`;
  $('view-label').textContent = `${label} · ${me.actor}`;
  const active = S.incidents.filter((i) => !TERMINAL.has(i.status));
  const crit = active.filter((i) => i.severity === 'critical').length;
  document.title = `${crit ? `(${crit}) ` : ''}firegrid ${t('title')}`;
  const c = $('counts');
  c.replaceChildren(`${t('count_active')} `, h('b', {}, active.length), ` · ${t('count_critical')} `,
    h('b', { class: 'c-crit' }, crit));
}
function badges(inc) {
  return [
    h('span', { class: `badge sev-${inc.severity}` }, n(inc.severity)),
    h('span', { class: `badge st st-${inc.status}` }, n(inc.status)),
    inc.vulnerable ? h('span', { class: 'badge vul' }, t('vulnerable')) : null,
    (S.unroutable || []).some((u) => u.incident_id === inc.id) ? h('span', { class: 'badge unrt' }, t('unroutable')) : null,
    inc.verification ? h('span', { class: 'badge unv', 'data-verification': inc.verification },
      `${t('unverified')} · ${n(inc.verification)}`) : null,
  ];
}
function renderList() {
  for (const [id, at] of S.fresh) if (Date.now() - at > 60000) S.fresh.delete(id);
  const showClosed = $('show-closed').checked;
  const rows = S.incidents.filter((i) => showClosed || !TERMINAL.has(i.status));
  $('empty').hidden = rows.length > 0;
  $('list').replaceChildren(...rows.map((inc) => h('li', {
    class: `item${inc.id === S.selected ? ' sel' : ''}${TERMINAL.has(inc.status) ? ' closed' : ''}${S.fresh.has(inc.id) ? ' fresh' : ''}`,
    'data-id': inc.id, 'data-status': inc.status, 'data-severity': inc.severity,
    tabindex: '0', onclick: () => select(inc.id),
    onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); select(inc.id); } },
  },
  h('span', { class: `bar sev-${inc.severity}` }),
  h('span', {}, h('b', {}, n(inc.class)), ' ', badges(inc)),
  h('span', { class: 'id', title: fmt(inc.opened_at_ms, true) }, ago(inc.opened_at_ms)),
  h('span', { class: 'sum' }, line(inc)),
  h('span', { class: 'meta' }, h('span', {}, inc.id), h('span', {}, fmt(inc.opened_at_ms))))));
}

// Map: an equirectangular projection of the stations and incidents, corrected for latitude, over a
// graticule with a scale bar — no tiles, readable at a glance.
function renderMap() {
  const svg = $('map');
  const W = Math.max(320, Math.round(svg.clientWidth || 1000)), H = Math.max(240, Math.round(svg.clientHeight || 720));
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const padX = 70, padTop = 48, padBottom = 72;
  const showClosed = $('show-closed').checked;
  const incs = S.incidents.filter((i) => i.lat != null && i.lon != null && (showClosed || !TERMINAL.has(i.status)));
  const pts = frame(incs);
  if (!pts.length) { svg.replaceChildren(); renderLegend(); return; }
  let [la0, la1, lo0, lo1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const [la, lo] of pts) { la0 = Math.min(la0, la); la1 = Math.max(la1, la); lo0 = Math.min(lo0, lo); lo1 = Math.max(lo1, lo); }
  const minSpan = 0.03;
  if (la1 - la0 < minSpan) { const c = (la0 + la1) / 2; la0 = c - minSpan / 2; la1 = c + minSpan / 2; }
  if (lo1 - lo0 < minSpan) { const c = (lo0 + lo1) / 2; lo0 = c - minSpan / 2; lo1 = c + minSpan / 2; }
  const k = Math.cos(((la0 + la1) / 2) * Math.PI / 180);
  const iw = W - 2 * padX, ih = H - padTop - padBottom;
  const sc = Math.min(iw / ((lo1 - lo0) * k), ih / (la1 - la0));
  const ox = padX + (iw - (lo1 - lo0) * k * sc) / 2, oy = padBottom + (ih - (la1 - la0) * sc) / 2;
  const X = (lo) => ox + (lo - lo0) * k * sc, Y = (la) => H - oy - (la - la0) * sc;
  const g = [];
  // Graticule at a round step, over the whole pane.
  const span = Math.max(W / (k * sc), H / sc);
  const step = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1].find((x) => span / x <= 10) || 2;
  const dec = step < 0.01 ? 3 : 2;
  const grid = s('g', { class: 'grid' });
  for (let lo = Math.ceil((lo0 - ox / (k * sc)) / step) * step; X(lo) < W; lo += step) {
    grid.append(s('line', { x1: X(lo), y1: 0, x2: X(lo), y2: H }));
    if (X(lo) + 75 < W - 50) grid.append(s('text', { x: X(lo) + 3, y: 14 }, `${lo.toFixed(dec)}°E`));
  }
  for (let la = Math.ceil((la0 - oy / sc) / step) * step; Y(la) > 0; la += step) {
    grid.append(s('line', { x1: 0, y1: Y(la), x2: W, y2: Y(la) }), s('text', { x: 4, y: Y(la) - 4 }, `${la.toFixed(dec)}°N`));
  }
  g.push(grid);
  // Scale bar (a round number of km, about a sixth of the width) and north.
  const kmPerPx = 111.32 / sc;
  const km = [0.2, 0.5, 1, 2, 5, 10, 20, 50].find((x) => x / kmPerPx > W / 7) || 100;
  const bx1 = W - 24, bx0 = bx1 - km / kmPerPx, by = H - 20;
  g.push(s('g', { class: 'scale' }, s('line', { x1: bx0, y1: by, x2: bx1, y2: by }),
    s('line', { x1: bx0, y1: by - 5, x2: bx0, y2: by + 5 }), s('line', { x1: bx1, y1: by - 5, x2: bx1, y2: by + 5 }),
    s('text', { x: (bx0 + bx1) / 2, y: by - 8, 'text-anchor': 'middle' }, `${km} km`)));
  g.push(s('text', { class: 'north', x: W - 28, y: 42, 'text-anchor': 'middle' }, S.lang === 'zh' ? '▲ 北' : '▲ N'));
  // Dispatch links of the selected incident: incident → notified stations.
  const sel = incs.find((i) => i.id === S.selected);
  const acked = new Set();
  if (S.detail && S.detail.incident.id === S.selected) {
    for (const a of S.detail.audit) if (a.event === 'acknowledged' || a.event === 'on_scene') acked.add(a.actor.replace(/^station:/, ''));
  }
  if (sel) {
    for (const id of sel.notified_stations || []) {
      const st = S.stationById.get(id);
      if (st) g.push(s('line', { class: `link${acked.has(id) ? ' acked' : ''}`, x1: X(sel.lon), y1: Y(sel.lat), x2: X(st.lon), y2: Y(st.lat) }));
    }
  }
  // Stations (smaller where many are in view).
  const crowded = S.stations.filter((st) => { const x = X(st.lon), y = Y(st.lat); return x >= 0 && y >= 0 && x <= W && y <= H; })
    .length > 80;
  const labels = [], marks = [];
  const label = new Set([S.station, ...((sel && sel.notified_stations) || [])]);
  if (S.stations.length <= 12) for (const st of S.stations) label.add(st.station_id);
  for (const st of S.stations) {
    const ts = TIER_STYLE[st.tier] || TIER_STYLE.micro;
    const x = X(st.lon), y = Y(st.lat);
    if (x < -20 || y < -20 || x > W + 20 || y > H + 20) continue;
    const r = ts.size * (crowded ? 0.6 : 1);
    const cls = `stn${st.available ? '' : ' off'}`;
    const shape = st.tier === 'district'
      ? s('rect', { class: cls, x: x - r, y: y - r, width: 2 * r, height: 2 * r, fill: ts.color })
      : st.tier === 'micro' || st.tier === 'volunteer'
        ? s('rect', { class: cls, x: x - r * 0.8, y: y - r * 0.8, width: 1.6 * r, height: 1.6 * r, fill: ts.color, transform: `rotate(45 ${x} ${y})` })
        : s('polygon', { class: cls, points: `${x},${y - r * 1.2} ${x + r},${y + r * 0.8} ${x - r},${y + r * 0.8}`, fill: ts.color });
    shape.append(s('title', {}, `${st.name} · ${n(st.tier)}${st.available ? '' : ` · ${t('unavailable')}`}`));
    g.push(shape);
    marks.push({ x, y, r });
    if (label.has(st.station_id)) {
      if (st.station_id === S.station) g.push(s('circle', { class: 'sel-ring', cx: x, cy: y, r: r + 6 }));
      const major = st.station_id === S.station || (sel && (sel.notified_stations || []).includes(st.station_id));
      labels.push({ x, y, r, text: st.name, cls: `stn-label${major ? '' : ' minor'}`, prio: major ? 1 : 3 });
    }
  }
  // Incidents: low severity first so the critical ones are drawn on top.
  for (const inc of incs.slice().sort((a, b) => SEV_RANK[a.severity] - SEV_RANK[b.severity])) {
    const x = X(inc.lon), y = Y(inc.lat);
    const closed = TERMINAL.has(inc.status);
    if (inc.severity === 'critical' && !closed) g.push(s('circle', { class: 'ring', cx: x, cy: y, r: 9 }));
    if (inc.id === S.selected) g.push(s('circle', { class: 'sel-ring', cx: x, cy: y, r: 15 }));
    const c = s('circle', { class: `inc${closed ? ' closed' : ''}`, cx: x, cy: y, r: inc.severity === 'critical' ? 9 : 7,
      fill: SEV_COLOR[inc.severity], 'data-id': inc.id, onclick: () => select(inc.id) });
    c.append(s('title', {}, `${n(inc.class)} · ${n(inc.severity)} · ${place(inc)}`));
    g.push(c);
    marks.push({ x, y, r: inc.id === S.selected ? 16 : 9 });
    if (!closed && incs.length <= 15) {
      const p = place(inc);
      labels.push({ x, y, r: inc.id === S.selected ? 16 : 9, text: `${n(inc.class)} · ${p.length > 14 ? `${p.slice(0, 13)}…` : p}`,
        cls: `inc-label sev-t-${inc.severity}`, prio: inc.id === S.selected ? 0 : 2 - SEV_RANK[inc.severity] / 10 });
    }
  }
  g.push(...placeLabels(labels, marks, W, H));
  svg.replaceChildren(...g);
  renderLegend();
}
// What the map frames: everything in the overview; else the selected incident with its notified stations and the
// active incidents within 15 km of it; else every active incident; else every station.
function frame(incs) {
  const all = () => S.stations.map((x) => [x.lat, x.lon]).concat(incs.map((i) => [i.lat, i.lon]));
  const active = incs.filter((i) => !TERMINAL.has(i.status));
  if (S.mapAll || (!active.length && !incs.some((i) => i.id === S.selected))) return all();
  const sel = incs.find((i) => i.id === S.selected);
  if (sel) {
    const near = (i) => km(sel, i) <= 15;
    return [[sel.lat, sel.lon]]
      .concat((sel.notified_stations || []).map((id) => S.stationById.get(id)).filter((st) => st && near(st))
        .map((st) => [st.lat, st.lon]))
      .concat(active.filter(near).map((i) => [i.lat, i.lon]));
  }
  return active.map((i) => [i.lat, i.lon]);
}
function km(a, b) {
  const r = Math.PI / 180, dla = (b.lat - a.lat) * r, dlo = (b.lon - a.lon) * r;
  const h = Math.sin(dla / 2) ** 2 + Math.cos(a.lat * r) * Math.cos(b.lat * r) * Math.sin(dlo / 2) ** 2;
  return 12742 * Math.asin(Math.sqrt(h));
}
// Greedy label placement: most important first, at the first of eight spots around its point
// that overlaps no placed label, no marker and stays inside the pane; a label with no free spot is left out.
function placeLabels(labels, marks, W, H) {
  const boxes = marks.map((m) => [m.x - m.r, m.y - m.r, m.x + m.r, m.y + m.r]);
  const hit = (b) => b[0] < 0 || b[1] < 16 || b[2] > W || b[3] > H - 40 ||
    boxes.some((o) => b[0] < o[2] && b[2] > o[0] && b[1] < o[3] && b[3] > o[1]);
  const out = [];
  for (const l of labels.sort((a, b) => a.prio - b.prio)) {
    const w = [...l.text].reduce((acc, ch) => acc + (ch.charCodeAt(0) > 0x2e80 ? 13 : 7), 0), hh = 15, d = l.r + 4;
    const spots = [[d, -hh / 2], [d, -hh - 2], [d, 2], [-d - w, -hh / 2], [-d - w, -hh - 2], [-d - w, 2],
      [-w / 2, -d - hh], [-w / 2, d]];
    for (const [dx, dy] of spots) {
      const b = [l.x + dx, l.y + dy, l.x + dx + w, l.y + dy + hh];
      if (hit(b)) continue;
      boxes.push(b);
      out.push(s('text', { class: l.cls, x: b[0], y: b[3] - 3 }, l.text));
      break;
    }
  }
  return out;
}
function renderLegend() {
  const item = (cls, color, text) => {
    const i = h('i', { class: cls });
    i.style.background = color;
    return h('span', {}, i, text);
  };
  $('legend').replaceChildren(
    ...['critical', 'high', 'medium', 'low'].map((v) => item('dot', SEV_COLOR[v], n(v))),
    ...Object.entries(TIER_STYLE).filter(([tier]) => S.stations.some((x) => x.tier === tier))
      .map(([tier, st]) => item('', st.color, n(tier))),
    item('', '#56636f', t('unavailable')));
}

// ---------- detail ----------
async function select(id) {
  S.selected = id;
  S.fresh.delete(id);
  renderList();
  await loadDetail(id, false);
}
async function loadDetail(id, quiet) {
  try {
    const [rec, log] = await Promise.all([api(`/api/v1/incidents/${encodeURIComponent(id)}`),
      api(`/api/v1/incidents/${encodeURIComponent(id)}/dispatch`).catch(() => ({ notifications: [], escalation: null }))]);
    if (S.selected !== id) return;
    rec.log = log;
    if (log.summary_zh) S.summaries.set(id, log.summary_zh);
    const sig = JSON.stringify(rec);
    if (quiet && S.detail && S.detailSig === sig) return; // unchanged: the clock ticks on its own
    S.detail = rec;
    S.detailSig = sig;
    renderDetail();
    renderMap();
  } catch (e) {
    if (e instanceof AuthError) { showLogin(e.message); return; }
    if (!quiet) toast(e.message, true);
  }
}
function allowed(cls, st, action) {
  if (cls === 'hazard') return (st === 'open' && action === 'ack') || (st === 'acknowledged' && action === 'rectified');
  switch (action) {
    case 'ack': return st === 'open' || st === 'dispatched';
    case 'on_scene': return ['open', 'dispatched', 'acknowledged'].includes(st);
    case 'resolve': return st === 'acknowledged' || st === 'on_scene';
    case 'false_alarm': return ['open', 'dispatched', 'acknowledged', 'on_scene'].includes(st);
    case 'confirm': return !TERMINAL.has(st);
    default: return false;
  }
}
function deadline(rec) {
  const inc = rec.incident, esc = rec.log && rec.log.escalation;
  if (TERMINAL.has(inc.status)) return null;
  if (esc) {
    if (inc.class === 'hazard' && esc.hazard_due_ms && inc.status === 'open') return { at: esc.hazard_due_ms, label: 'clock_hazard' };
    if (['open', 'dispatched'].includes(inc.status) && esc.slots && esc.slots.length) {
      return { at: Math.min(...esc.slots.map((x) => x.due_ms)), label: 'clock_ack', next: true };
    }
    if (inc.status === 'acknowledged' && esc.on_scene_due_ms) return { at: esc.on_scene_due_ms, label: 'clock_scene' };
  }
  if (['open', 'dispatched'].includes(inc.status)) {
    const ds = ((rec.log && rec.log.notifications) || []).map((x) => Date.parse(x.ack_deadline)).filter((x) => !Number.isNaN(x));
    if (ds.length) return { at: Math.max(...ds), label: 'clock_ack', next: true };
  }
  return null;
}
function renderClock() {
  const box = $('clockbox');
  if (!box || !S.detail) return;
  const d = deadline(S.detail);
  if (!d) { box.hidden = true; return; }
  box.hidden = false;
  const left = Math.round((d.at - Date.now()) / 1000);
  const a = Math.abs(left);
  const mmss = `${left < 0 ? '-' : ''}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
  box.className = `clockbox${left < 0 ? ' over' : left < 20 ? ' warn' : ''}`;
  box.replaceChildren(h('span', { class: 'cd' }, mmss),
    h('span', { class: 'lbl' }, `${t(d.label)} ${fmt(d.at)}${left < 0 ? ` · ${t('overdue')}` : ''}`));
}
function values(v) {
  if (v == null || typeof v !== 'object') return String(v ?? '');
  return Object.entries(v).map(([k, x]) => `${k}=${Array.isArray(x) ? x.join('/') : x}`).join(' ');
}
function table(head, rows) {
  if (!rows.length) return h('p', { class: 'empty' }, t('no_rows'));
  return h('table', {}, h('thead', {}, h('tr', {}, head.map((x) => h('th', {}, t(x))))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r))));
}
function renderDetail() {
  const box = $('detail');
  const rec = S.detail;
  if (!rec || rec.incident.id !== S.selected) { box.replaceChildren(h('p', { class: 'empty' }, t('pick'))); return; }
  const inc = rec.incident;
  const acts = inc.class === 'hazard' ? ['ack', 'rectified'] : ['ack', 'on_scene', 'resolve', 'confirm', 'false_alarm'];
  const old = $('note');
  const note = h('input', { class: 'note', id: 'note', placeholder: t('note'), maxlength: '200' });
  if (old && old.dataset.incident === inc.id) note.value = old.value;
  note.dataset.incident = inc.id;
  const refocus = old && document.activeElement === old;
  const buttons = acts.map((a) => h('button', {
    type: 'button', 'data-action': a, disabled: !allowed(inc.class, inc.status, a),
    class: a === 'ack' ? 'primary' : a === 'false_alarm' ? 'danger' : '',
    onclick: () => act(inc.id, a, note.value),
  }, ACTION_LABEL[S.lang][a]));
  // Group the per-channel outbox rows into one line per recipient and round.
  const groups = new Map();
  for (const x of (rec.log && rec.log.notifications) || []) {
    const key = `${x.target}|${x.role}|${x.seq}`;
    if (!groups.has(key)) groups.set(key, { ...x, channels: [] });
    groups.get(key).channels.push(x);
  }
  const chan = (x) => {
    const gone = x.state === 'abandoned';
    return h('span', { class: x.delivered_at_ms ? 'ok' : gone || x.last_error ? 'bad' : 'pend', 'data-state': x.state,
      title: gone ? `${t('abandoned')} ${fmt(x.abandoned_at_ms, true)} · ${x.last_error || ''}`
        : x.last_error || (x.delivered_at_ms ? fmt(x.delivered_at_ms, true) : '') },
    `${n(x.channel)} ${x.delivered_at_ms ? '✓' : gone ? '⊘' : x.last_error ? '✗' : '…'} `);
  };
  box.replaceChildren(
    h('div', { class: 'head' }, h('b', {}, n(inc.class)), badges(inc), h('span', { class: 'inc-id' }, inc.id)),
    h('p', { class: 'summary' }, line(inc)),
    h('dl', { class: 'kv' },
      h('dt', {}, t('location')), h('dd', {}, [inc.address, inc.community, inc.grid_id].filter(Boolean).join(' · ')),
      h('dt', {}, t('site')), h('dd', {}, n(inc.site_type || 'other')),
      h('dt', {}, t('opened')), h('dd', {}, `${fmt(inc.opened_at_ms, true)} (${ago(inc.opened_at_ms)})`),
      h('dt', {}, t('signals')), h('dd', {}, (inc.signals || []).map(n).join(', ')),
      h('dt', {}, t('devices')), h('dd', {}, (inc.devices || []).join(', '))),
    h('div', { id: 'clockbox', class: 'clockbox', hidden: true }),
    h('div', { class: 'actions' }, buttons),
    note,
    h('h3', {}, t('evidence')),
    table(['time', 'device', 'reading'], rec.evidence.slice(-12).reverse().map((e) => [
      h('td', { class: 't' }, fmt(e.ts_ms)), h('td', {}, `${e.device_id} · ${n(e.kind)}`),
      h('td', {}, values(e.values), h('br'), h('span', { class: 'pend' }, e.reason))])),
    h('h3', {}, t('dispatch_log')),
    table(['time', 'target', 'role', 'channel'], [...groups.values()].map((x) => [
      h('td', { class: 't' }, fmt(x.created_at_ms)), h('td', {}, stationName(x.target)),
      h('td', {}, `${n(x.role)}${x.seq ? ` #${x.seq}` : ''}`), h('td', {}, x.channels.map(chan))])),
    h('h3', {}, t('audit')),
    table(['time', 'event', 'by'], rec.audit.map((a) => [
      h('td', { class: 't' }, fmt(a.at_ms)),
      h('td', {}, h('b', {}, n(a.event)), ' ',
        h('span', { class: 'dim' }, `${a.from_status ? `${n(a.from_status)} ` : ''}→ ${n(a.to_status)}`),
        a.note ? h('br') : null, a.note ? h('span', { class: 'pend' }, a.note) : null),
      h('td', {}, a.actor)])));
  if (refocus) note.focus();
  renderClock();
}
async function act(id, action, note) {
  for (const b of document.querySelectorAll('.actions button')) b.disabled = true;
  try {
    const inc = await api(`/api/v1/incidents/${encodeURIComponent(id)}/${action}`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ note: note || '' }),
    });
    toast(`${t('done')}：${ACTION_LABEL[S.lang][action]} → ${n(inc.status)}`);
    if ($('note')) $('note').value = '';
  } catch (e) {
    if (e instanceof AuthError) { showLogin(e.message); return; }
    toast(`${t('forbidden')}：${e.message}`, true);
  }
  await refresh();
  await loadDetail(id, true);
}

// ---------- wiring ----------
function tick() {
  $('clock').textContent = `${fmt(Date.now(), true)} (UTC+8)`;
  renderClock();
  if (!S.me) return;
  const since = Date.now() - S.lastRefresh;
  if (S.live === 'on' ? since >= 5000 : since >= 2000) refresh();
  if (!S.sseCtl && Date.now() - S.lastSseTry >= 15000) connectStream();
}
document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    S.token = $('token').value.trim();
    sessionStorage.setItem('firegrid.token', S.token);
    $('token').value = '';
    try { S.audio = S.audio || new AudioContext(); } catch (_) { /* no audio */ }
    start();
  });
  $('logout').addEventListener('click', () => {
    sessionStorage.removeItem('firegrid.token');
    S.token = '';
    showLogin('');
  });
  $('lang').addEventListener('click', () => {
    S.lang = S.lang === 'zh' ? 'en' : 'zh';
    localStorage.setItem('firegrid.lang', S.lang);
    applyLang();
  });
  $('sound').addEventListener('click', () => {
    try { S.audio = S.audio || new AudioContext(); S.audio.resume(); } catch (_) { /* no audio */ }
    $('sound').hidden = true;
  });
  $('alarm-close').addEventListener('click', () => {
    $('alarm').hidden = true;
    if ($('alarm').dataset.incident) select($('alarm').dataset.incident);
  });
  $('show-closed').addEventListener('change', () => { renderList(); renderMap(); });
  $('map-all').addEventListener('click', () => {
    S.mapAll = !S.mapAll;
    $('map-all').textContent = t(S.mapAll ? 'map_focus' : 'map_all');
    renderMap();
  });
  let resizeTimer = null;
  window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(renderMap, 100); });
  applyLang();
  setInterval(tick, 1000);
  tick();
  if (S.token) start(); else showLogin('');
});
