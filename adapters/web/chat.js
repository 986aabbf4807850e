// sansio-chat's page: speaks the JSON protocol of docs/web.md over the WebSocket at /ws.
// Every string that comes from the server or another user is inserted with textContent, never as HTML.

const MAX_LINES = 500; // per conversation, oldest dropped first
const BACKOFF_FIRST = 1000; // ms before the first reconnection attempt
const BACKOFF_MAX = 30000;
// The server's limit on one message, in bytes of UTF-8 of the whole JSON message (--max-line-bytes): it
// closes the WebSocket (1009) on a longer one, so the page says so instead of sending it. The welcome
// gives the limit; this default holds for a server whose welcome does not.
const DEFAULT_MAX_MESSAGE_BYTES = 4096;
const utf8 = new TextEncoder();

const $ = (id) => document.getElementById(id);
const ui = {
  status: $("status"), reconnect: $("reconnect"), myNick: $("my-nick"), toggle: $("toggle-panels"),
  rooms: $("rooms"), refresh: $("refresh-rooms"), joinForm: $("join-form"), joinInput: $("join-input"),
  privates: $("privates"), noPrivates: $("no-privates"), title: $("view-title"), topic: $("topic"),
  log: $("log"), sendForm: $("send-form"), input: $("input"), members: $("members"),
};

const state = {
  socket: null,
  attempts: 0, // failed connections in a row, for the backoff
  timer: null,
  stay: false, // the user quit or was killed: no reconnection
  nick: "",
  chosenNick: "", // the nickname the user picked, asked for again after a reconnection
  room: null, // the room we are in
  chosenRoom: null, // the room we went to, joined again after a reconnection (null after a kick)
  keys: new Map(), // room (lower case, without its #) -> the key typed for it, for that join
  rooms: [],
  members: [], // [{nick, op}] of the current room
  topic: null,
  view: null, // the conversation shown: a room name, or "@" + nick for a private one
  views: new Map(), // key -> {title, lines: [{...}], unread}
  history: [],
  historyAt: 0,
  pings: 0,
  whoTyped: false, // the next list of the room we are in also goes into the conversation
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES, // as the last welcome gave it
};

// -- the connection ---------------------------------------------------------------

function connect() {
  clearTimeout(state.timer);
  setStatus("connecting", "Connecting…");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}/ws`);
  state.socket = socket;
  socket.addEventListener("open", () => {
    state.attempts = 0;
    setStatus("open", "Connected");
  });
  socket.addEventListener("message", (event) => {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return; // not ours to fix: the server only sends JSON objects
    }
    if (data && typeof data.type === "string") handle(data);
  });
  socket.addEventListener("close", (event) => {
    if (state.socket !== socket) return;
    state.socket = null;
    state.room = null;
    renderMembers([]);
    if (state.stay) {
      setStatus("closed", "Disconnected");
      ui.reconnect.hidden = false;
      return;
    }
    // Jittered exponential backoff, so that a restarted server is not hit by every page at once.
    const delay = Math.min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** state.attempts) * (0.5 + Math.random());
    state.attempts += 1;
    const why = event.code === 1001 ? "Server restarting" : "Connection lost";
    setStatus("waiting", `${why}; reconnecting in ${Math.round(delay / 1000)} s…`);
    ui.reconnect.hidden = false;
    state.timer = setTimeout(connect, delay);
  });
}

function send(command) {
  if (!state.socket || state.socket.readyState !== WebSocket.OPEN) {
    note("Not connected: your message was not sent.", "error");
    return false;
  }
  const message = JSON.stringify(command);
  const size = utf8.encode(message).length;
  if (size > state.maxMessageBytes) {
    note(`Not sent: a message is at most ${state.maxMessageBytes} bytes (this one is ${size})`, "error");
    return false;
  }
  state.socket.send(message);
  return true;
}

function setStatus(kind, text) {
  ui.status.dataset.state = kind;
  ui.status.textContent = text;
  if (kind !== "waiting" && kind !== "closed") ui.reconnect.hidden = true;
}

// -- what the server says ------------------------------------------------------------

const roomKey = (room) => room.replace(/^#/, "").toLowerCase();
const same = (a, b) => typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();

function handle(e) {
  switch (e.type) {
    case "welcome": {
      const limit = e.max_message_bytes;
      state.maxMessageBytes = Number.isSafeInteger(limit) && limit > 0 ? limit : DEFAULT_MAX_MESSAGE_BYTES;
      setNick(e.nick);
      state.room = e.room ?? null;
      if (state.room) showView(state.room);
      note(`Welcome, ${e.nick}!`);
      if (state.chosenNick && !same(state.chosenNick, e.nick)) send({ cmd: "nick", nick: state.chosenNick });
      const back = state.chosenRoom; // connected again: back to the room we were in
      if (back && !same(back, e.room)) {
        const key = state.keys.get(roomKey(back));
        send({ cmd: "join", room: back, ...(key && { key }) });
      }
      send({ cmd: "who" });
      send({ cmd: "rooms" });
      break;
    }
    case "joined":
      state.room = e.room;
      state.chosenRoom = e.room;
      state.topic = null;
      showView(e.room);
      note(`You are now in ${e.room}`);
      send({ cmd: "rooms" });
      break;
    case "users": {
      const here = !e.room || same(e.room, state.room);
      if (here) renderMembers(e.users ?? []);
      // Typed /who is answered in the conversation; the page's own asks only refresh the panel.
      if (!here || state.whoTyped) note(usersLine(e.room ?? state.room, e.users ?? []));
      state.whoTyped = false;
      break;
    }
    case "rooms":
      state.rooms = e.rooms ?? [];
      renderRooms();
      break;
    case "topic":
      if (e.by && e.topic === null) note(`${e.by} cleared the topic of ${e.room}`, "notice", e.room);
      else if (e.by) note(`${e.by} set the topic to: ${e.topic}`, "notice", e.room);
      else if (e.topic === null) note(`${e.room} has no topic`, "notice", e.room);
      if (same(e.room, state.room)) {
        state.topic = e.topic;
        renderHead();
      }
      break;
    case "message":
      say(e.room, e.from, e.text, e.kind);
      break;
    case "private": {
      const other = same(e.from, state.nick) ? e.to : e.from;
      say(`@${other}`, e.from, e.text, e.kind);
      break;
    }
    case "join":
      note(e.connected ? `${e.nick} connected` : `${e.nick} joined ${e.room}`, "notice", e.room);
      if (same(e.room, state.room) && !state.members.some((m) => same(m.nick, e.nick))) {
        renderMembers([...state.members, { nick: e.nick, op: false }]);
      }
      break;
    case "part":
      note(`${e.nick} left ${e.room}`, "notice", e.room);
      if (same(e.room, state.room)) renderMembers(state.members.filter((m) => !same(m.nick, e.nick)));
      break;
    case "nick":
      renamed(e.old, e.new);
      break;
    case "kick":
      if (same(e.nick, state.nick)) {
        note(`You were kicked from ${e.room} by ${e.by}${e.reason ? `: ${e.reason}` : ""}`, "error", e.room);
        state.room = state.chosenRoom = null;
        renderMembers([]);
        renderHead();
      } else {
        note(`${e.nick} was kicked from ${e.room} by ${e.by}${e.reason ? `: ${e.reason}` : ""}`, "notice", e.room);
        renderMembers(state.members.filter((m) => !same(m.nick, e.nick)));
      }
      break;
    case "quit": {
      const why = {
        killed: ` (killed by ${e.by})`,
        "too-slow": " (too slow)",
        "oper-failures": " (too many failed OPER attempts)",
        "timed-out": " (timed out)",
        "server-down": " (server down)",
        "protocol-error": " (protocol error)",
      };
      note(`${e.nick} disconnected${why[e.reason] ?? ""}${e.text ? `: ${e.text}` : ""}`);
      renderMembers(state.members.filter((m) => !same(m.nick, e.nick)));
      break;
    }
    case "killed":
      state.stay = true;
      note(`You were disconnected by ${e.by}${e.text ? `: ${e.text}` : ""}`, "error");
      break;
    case "goodbye":
      state.stay = true;
      note(`Goodbye, ${e.nick}.`);
      break;
    case "oper":
      note("You are now an operator.");
      break;
    case "pong":
      if (state.pings > 0) {
        state.pings -= 1;
        note(`pong${e.token ? ` ${e.token}` : ""}`);
      }
      break;
    case "help":
      note(`Server commands: ${(e.commands ?? []).join(", ")}`);
      break;
    case "shutdown":
      note("The server is shutting down; this page will reconnect.", "error");
      break;
    case "cluster":
      note(e.text, e.news === "restored" ? "notice" : "error");
      break;
    case "error":
      note(e.message ?? e.code ?? "error", "error");
      break;
    case "mode":
      note(`${e.by} set mode ${[e.modes, ...(e.args ?? [])].join(" ")} on ${e.target}`, "notice", e.target);
      // Who is an operator (o) or voiced (v) changed: the members list asks again rather than guess.
      if (same(e.target, state.room) && /[ov]/.test(e.modes ?? "")) send({ cmd: "who" });
      break;
    case "invite":
      note(`${e.from} invites you to ${e.room}`);
      break;
    case "away":
      if (same(e.nick, state.nick)) note(e.text === null ? "You are back" : `You are away: ${e.text}`);
      else note(e.text === null ? `${e.nick} is back` : `${e.nick} is away: ${e.text}`);
      break;
    case "modes":
      note(e.modes ? `Modes of ${e.room}: ${[e.modes, ...(e.args ?? [])].join(" ")}` : `${e.room} has no modes`);
      break;
    case "bans":
      note(
        (e.bans ?? []).length
          ? `Bans of ${e.room}: ${e.bans.map((b) => `${b.mask} (by ${b.by})`).join(" ")}`
          : `${e.room} bans nobody`,
      );
      break;
    case "invited":
      note(`You invited ${e.nick} to ${e.room}`);
      break;
    case "wallops":
      note(`[wallops] ${e.from}: ${e.text}`);
      break;
    case "usermodes":
      note(e.modes ? `Your modes: ${e.modes}` : "You have no user modes");
      break;
    case "usermode":
      note(`Your modes changed: ${e.modes}`);
      break;
    default:
      break; // an event this page does not know yet: ignored, as the protocol asks
  }
}

function usersLine(room, users) {
  const nicks = users.map((u) => `${u.op ? "@" : u.voice ? "+" : ""}${u.nick}`);
  return [room ? `Users in ${room} (${users.length}):` : `Users (${users.length}):`, ...nicks].join(" ");
}

function setNick(nick) {
  state.nick = nick;
  ui.myNick.textContent = nick;
}

function renamed(old, now) {
  if (same(old, state.nick)) {
    setNick(now);
    state.chosenNick = now;
    note(`You are now known as ${now}`);
  } else {
    note(`${old} is now known as ${now}`);
  }
  renderMembers(state.members.map((m) => (same(m.nick, old) ? { ...m, nick: now } : m)));
  const view = state.views.get(key(`@${old}`));
  if (view && !same(old, state.nick)) {
    state.views.delete(key(`@${old}`));
    view.title = `@${now}`;
    state.views.set(key(`@${now}`), view);
    if (same(state.view, `@${old}`)) state.view = `@${now}`;
    renderPrivates();
    renderHead();
  }
}

// -- conversations ---------------------------------------------------------------------

const key = (name) => name.toLowerCase();

function viewOf(name) {
  let view = state.views.get(key(name));
  if (!view) {
    view = { title: name, lines: [], unread: 0 };
    state.views.set(key(name), view);
    if (name.startsWith("@")) renderPrivates();
  }
  return view;
}

function add(name, line) {
  const view = viewOf(name);
  view.lines.push(line);
  if (view.lines.length > MAX_LINES) view.lines.shift();
  if (same(name, state.view)) {
    const stick = ui.log.scrollTop + ui.log.clientHeight >= ui.log.scrollHeight - 40;
    ui.log.append(renderLine(line));
    while (ui.log.childElementCount > MAX_LINES) ui.log.firstElementChild.remove();
    if (stick) ui.log.scrollTop = ui.log.scrollHeight;
  } else if (!line.self) { // what we said ourselves is not news to us
    view.unread += 1;
    renderPrivates();
  }
}

function say(where, from, text, kind) {
  add(where, { time: new Date(), from, text, kind: kind === "action" ? "action" : "msg", self: same(from, state.nick) });
}

function note(text, kind = "notice", where = null) {
  add(where ?? state.view ?? state.room ?? "#lobby", { time: new Date(), text, kind });
}

function showView(name) {
  state.view = viewOf(name).title;
  const view = viewOf(name);
  view.unread = 0;
  ui.log.replaceChildren(...view.lines.map(renderLine));
  ui.log.scrollTop = ui.log.scrollHeight;
  renderHead();
  renderRooms();
  renderPrivates();
}

// -- rendering: textContent only ---------------------------------------------------------

// What an IRC user's words may hold, shown as a text client's terminal shows it (docs/protocol.md,
// "Terminal safety"): formatting codes (bold, a colour with its digits...) left out, any other control
// character as U+FFFD. The events keep the text as sent, for a client that would render the formatting.
const UNSAFE = /\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04(?:[0-9A-Fa-f]{6}(?:,[0-9A-Fa-f]{6})?)?|[\x00-\x08\x0a-\x1f\x7f-\x9f]/g;
const FORMATTING = "\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f";
const shown = (text) => String(text).replace(UNSAFE, (code) => (FORMATTING.includes(code[0]) ? "" : "\ufffd"));

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function nickClass(nick) {
  let hash = 0;
  for (const ch of nick.toLowerCase()) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `nick nick-${hash % 8}`;
}

function renderLine(line) {
  const li = el("li", undefined, line.self ? "self" : "");
  const time = el("time", line.time.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  time.dateTime = line.time.toISOString();
  const body = el("div");
  if (line.kind === "msg") {
    body.append(el("span", line.from, nickClass(line.from)), el("span", shown(line.text)));
  } else if (line.kind === "action") {
    body.className = "action";
    body.append(el("span", `* ${line.from}`, nickClass(line.from)), el("span", shown(line.text)));
  } else {
    body.append(el("span", shown(line.text), line.kind));
  }
  li.append(time, body);
  return li;
}

function renderHead() {
  const inRoom = state.view && !state.view.startsWith("@");
  ui.title.textContent = state.view ?? "Not in a room";
  ui.topic.textContent = inRoom && same(state.view, state.room) ? shown(state.topic ?? "") : "";
  ui.input.placeholder = state.view ? `Message ${state.view} — /help for commands` : "Type /join #room, or /help";
}

function renderRooms() {
  ui.rooms.replaceChildren(
    ...state.rooms.map((r) => {
      const button = el("button");
      button.type = "button";
      button.append(el("span", r.room), el("span", String(r.users), "count"));
      button.setAttribute("aria-label", `${r.room}, ${r.users} ${r.users === 1 ? "person" : "people"}`);
      if (same(r.room, state.view)) button.setAttribute("aria-current", "true");
      button.addEventListener("click", () => (same(r.room, state.room) ? showView(r.room) : send({ cmd: "join", room: r.room })));
      const li = el("li");
      li.append(button);
      return li;
    }),
  );
}

function renderPrivates() {
  const views = [...state.views.values()].filter((v) => v.title.startsWith("@"));
  ui.noPrivates.hidden = views.length > 0;
  ui.privates.replaceChildren(
    ...views.map((v) => {
      const button = el("button");
      button.type = "button";
      button.append(el("span", v.title.slice(1)));
      if (v.unread) button.append(el("span", String(v.unread), "unread"));
      button.setAttribute("aria-label", `Private conversation with ${v.title.slice(1)}${v.unread ? `, ${v.unread} unread` : ""}`);
      if (same(v.title, state.view)) button.setAttribute("aria-current", "true");
      button.addEventListener("click", () => showView(v.title));
      const li = el("li");
      li.append(button);
      return li;
    }),
  );
}

function renderMembers(users) {
  state.members = users;
  const here = state.rooms.find((r) => same(r.room, state.room));
  if (here && here.users !== users.length && users.length) {
    here.users = users.length; // the count of the room we are in follows its members
    renderRooms();
  }
  ui.members.replaceChildren(
    ...users.map((u) => {
      const li = el("li");
      if (u.op) li.append(el("span", "@", "op-mark"));
      const name = el("button", u.nick);
      name.type = "button";
      const about = `${u.op ? ", room operator" : ""}${u.bot ? ", a bot" : ""}`;
      name.setAttribute("aria-label", `${u.nick}${about}: start a private conversation`);
      name.addEventListener("click", () => {
        if (same(u.nick, state.nick)) return;
        showView(`@${u.nick}`);
        ui.input.focus();
      });
      li.append(name);
      if (u.bot) li.append(el("span", " (bot)", "bot-mark"));
      return li;
    }),
  );
}

// -- what the user types -------------------------------------------------------------------

const USAGE = {
  join: "/join #room [key]", nick: "/nick name", me: "/me does something", msg: "/msg nick text", tell: "/msg nick text",
  query: "/query nick", topic: "/topic [new topic]", kick: "/kick nick [reason]", oper: "/oper password",
  kill: "/kill nick [reason]", who: "/who [#room]", rooms: "/rooms", quit: "/quit [message]", ping: "/ping [token]",
  mode: "/mode [#room] [+|-letters [args]]", invite: "/invite nick [#room]", away: "/away [message]",
  usermode: "/usermode [+|-wB]",
};

function splitFirst(text) {
  const match = /^(\S+)\s*([\s\S]*)$/.exec(text.trim());
  return match ? [match[1], match[2]] : ["", ""];
}

function command(line) {
  const [word, rest] = splitFirst(line.slice(1));
  const name = word.toLowerCase();
  const [first, tail] = splitFirst(rest);
  const usage = () => note(`Usage: ${USAGE[name]}`, "error");
  switch (name) {
    case "join":
      if (!first) return usage();
      if (tail) state.keys.set(roomKey(first), tail.trim());
      return send({ cmd: "join", room: first, ...(tail && { key: tail.trim() }) });
    case "nick": return rest ? send({ cmd: "nick", nick: rest.trim() }) : usage();
    case "me":
      if (!rest) return usage();
      if (state.view?.startsWith("@")) return tell(state.view.slice(1), rest, "action");
      if (send({ cmd: "me", text: rest }) && state.room) say(state.room, state.nick, rest, "action");
      return true;
    case "msg":
    case "tell": return first && tail ? tell(first, tail, "msg") : usage();
    case "query": return first ? showView(`@${first}`) : usage();
    case "topic": return send(rest ? { cmd: "topic", text: rest } : { cmd: "topic" });
    case "kick": return first ? send({ cmd: "kick", nick: first, ...(tail && { reason: tail }) }) : usage();
    case "oper": return rest ? send({ cmd: "oper", password: rest.trim() }) : usage();
    case "kill": return first ? send({ cmd: "kill", nick: first, ...(tail && { reason: tail }) }) : usage();
    case "who":
      state.whoTyped = true;
      return send(rest ? { cmd: "who", room: rest.trim() } : { cmd: "who" });
    case "rooms": return send({ cmd: "rooms" });
    case "mode": return mode(rest);
    case "invite": return first ? send({ cmd: "invite", nick: first, ...(tail && { room: tail.trim() }) }) : usage();
    case "away": return send(rest.trim() ? { cmd: "away", text: rest } : { cmd: "away" });
    case "usermode":
      if (tail) return usage(); // one word of letters, "+w-B": nothing left over silently
      return send(first ? { cmd: "usermode", modes: first } : { cmd: "usermode" });
    case "quit": return send(rest ? { cmd: "quit", reason: rest } : { cmd: "quit" });
    case "ping":
      state.pings += 1;
      return send(rest ? { cmd: "ping", token: rest.trim() } : { cmd: "ping" });
    case "help":
      note(`Commands: ${Object.values(USAGE).filter((u, i, all) => all.indexOf(u) === i).join("  ·  ")}`);
      note("Up and down arrows go through what you typed. // at the start sends a line beginning with /.");
      return true;
    default:
      note(`Unknown command /${word}; type /help`, "error");
      return false;
  }
}

function mode(rest) {
  // "/mode", "/mode #room", "/mode +o bob" (your room), "/mode #room -v+k bob key"
  const words = rest.trim().split(/\s+/).filter(Boolean);
  const room = words.length && !/^[+-]/.test(words[0]) ? words.shift() : null;
  const [modes, ...args] = words;
  return send({ cmd: "mode", ...(room && { room }), ...(modes && { modes }), ...(args.length && { args }) });
}

function tell(nick, text, kind) {
  if (kind === "action") text = `* ${state.nick} ${text}`; // the protocol has no private action
  const sent = send({ cmd: "tell", nick, text });
  // Shown at once (the server sends the sender no copy), but to yourself the server's copy shows it.
  if (sent && !same(nick, state.nick)) say(`@${nick}`, state.nick, text, "msg");
  return sent;
}

function submit(line) {
  if (!line.trim()) return;
  state.history.push(line);
  if (state.history.length > 100) state.history.shift();
  state.historyAt = state.history.length;
  if (line.startsWith("/") && !line.startsWith("//")) return command(line);
  const text = line.startsWith("//") ? line.slice(1) : line;
  if (state.view?.startsWith("@")) return tell(state.view.slice(1), text, "msg");
  const sent = send({ cmd: "msg", text });
  if (sent && state.room) say(state.room, state.nick, text, "msg");
  return sent;
}

ui.sendForm.addEventListener("submit", (event) => {
  event.preventDefault();
  if (submit(ui.input.value) !== false) ui.input.value = ""; // what was not sent stays, to be fixed
});

ui.input.addEventListener("keydown", (event) => {
  if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
  if (event.key !== "ArrowUp" && event.key !== "ArrowDown") return;
  const step = event.key === "ArrowUp" ? -1 : 1;
  const at = Math.min(state.history.length, Math.max(0, state.historyAt + step));
  if (at === state.historyAt) return;
  event.preventDefault();
  state.historyAt = at;
  ui.input.value = state.history[at] ?? "";
});

ui.joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const room = ui.joinInput.value.trim();
  if (room && send({ cmd: "join", room })) ui.joinInput.value = "";
});

ui.refresh.addEventListener("click", () => send({ cmd: "rooms" }));

ui.reconnect.addEventListener("click", () => {
  state.stay = false;
  state.attempts = 0;
  if (!state.socket) connect();
});

ui.toggle.addEventListener("click", () => {
  const open = document.body.classList.toggle("panels-open");
  ui.toggle.setAttribute("aria-expanded", String(open));
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && document.body.classList.contains("panels-open")) {
    document.body.classList.remove("panels-open");
    ui.toggle.setAttribute("aria-expanded", "false");
    ui.toggle.focus();
  }
});

renderHead();
connect();
ui.input.focus();
