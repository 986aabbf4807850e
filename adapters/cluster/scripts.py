"""The cluster's Lua scripts: each change to the shared state is one atomic step in Redis.

Redis runs a script alone, start to end, so a script that checks, changes
and announces cannot be interleaved with another node's.  Every change to
the directory (who holds which nickname) ends with ``announce``: it numbers
the change (``INCR seq``) and publishes it on the ``all`` channel in the
same step, so no node can see the change without the event, or the event
out of order.  Every script that changes something on behalf of a node first
checks that node's epoch (fencing): a node that was declared dead while it
was paused, and comes back, can change nothing until it registers again.
Chat messages are plain ``PUBLISH``es (a script per message would cost Redis
several times more); they carry their node's epoch, and every receiver drops
those whose epoch is no longer current.  All nodes see registrations and
messages in the same order, so they all drop the same ones.

Scripts take no ``KEYS``: their first argument is the cluster's name prefix
and they build the key and channel names from it (``names.py`` spells the
same names for Python).  That is fine on one Redis instance, which is what
the cluster runs on; Redis Cluster would need every key declared.

The directory events published on ``sc:<db>:all`` are tab-separated,
``<seq> <KIND> <fields...>``; a free-text field (a reason) comes last, so
it may hold tabs:

=========  ================================================================
``UP``     ``node epoch``: the node (re)registered; its older epochs are void
``NICK``   ``node conn fold nick old_fold payload`` (``old_fold`` empty for a new user)
``QUIT``   ``node conn fold reason``
``KILL``   ``node conn fold killer reason`` (``node``/``conn``: the victim's)
``FACT``   ``node payload``: something else the node shares with every node
``DOWN``   ``node reason fold...``: the node and all its users are gone
``SYNC``   ``node (conn fold nick)...``: the node's complete list of users
=========  ================================================================

The chat's nodes put their shared fact, encoded, in the last field (the
``payload`` of ``NICK`` and ``FACT``, the ``reason`` of ``QUIT`` and
``KILL``), so that the change of the directory and the fact that explains
it are one event: no node sees one without the other.

Script replies are arrays starting with a status word: ``OK`` (with
results), ``FENCED`` (the node's epoch is not current: register again),
``TAKEN`` (the nickname belongs to another user), ``GONE`` (the user is no
longer in the directory), ``NO_SUCH`` (nobody holds that nickname).
"""

from __future__ import annotations

from dataclasses import dataclass

from ._resp import Arg
from ._script import Script
from .names import ALL_CHANNEL_SUFFIX, INDEX_SUFFIX, KEY_SUFFIXES, KILLS_SUFFIX, ClusterNames

#: How long a kill is kept for its victim's node (ms): it may have missed the ``KILL`` event
#: (its subscription broke as it went by), and learns it from its next ``burst``.  The reaper
#: keeps them too: a node reaped while cut off or paused comes back and bursts its users, the
#: killed one among them.  Only a clean stop (``release_all``) drops them at once.
KILLS_KEPT_MS = 60_000

#: Names and helpers every script starts with.
_PRELUDE = (
    "local P = ARGV[1]\n"
    + "".join(f"local {name} = P .. '{suffix}'\n" for name, suffix in KEY_SUFFIXES.items())
    + f"local ALL = P .. '{ALL_CHANNEL_SUFFIX}'\n"
    + f"local function index_of(node) return P .. '{INDEX_SUFFIX}' .. node end\n"
    + f"local function kills_of(node) return P .. '{KILLS_SUFFIX}' .. node end\n"
    + f"local KILLS_KEPT_MS = {KILLS_KEPT_MS}\n"
    + """
-- Milliseconds on Redis' own clock: every node is judged by the same one.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Fencing: is this the node's current epoch?
local function current(node, epoch)
  return redis.call('HGET', EPOCHS, node) == epoch
end

-- The start of every record a connection holds.
local function owner(node, conn)
  return node .. '\\t' .. conn .. '\\t'
end

local function starts_with(text, prefix)
  return text and string.sub(text, 1, #prefix) == prefix
end

-- One directory event: numbered and published in the same atomic step.
local function announce(kind, fields)
  local seq = redis.call('INCR', SEQ)
  redis.call('PUBLISH', ALL, seq .. '\\t' .. kind .. '\\t' .. table.concat(fields, '\\t'))
  return seq
end

-- This Redis process's run_id: it changes with every start, whatever data it loaded.
local function this_run()
  return string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
end

-- A node and all its users leave the directory, announced once.  Its recent kills stay
-- (they expire on their own): a reaped node may come back and burst the killed user.
local function drop_node(node, reason)
  local index = index_of(node)
  local gone = {node, reason}
  for _, fold in ipairs(redis.call('SMEMBERS', index)) do
    if starts_with(redis.call('HGET', USERS, fold), node .. '\\t') then
      redis.call('HDEL', USERS, fold)
      gone[#gone + 1] = fold
    end
  end
  redis.call('DEL', index)
  redis.call('HDEL', EPOCHS, node)
  redis.call('HDEL', RUNS, node)
  redis.call('ZREM', NODES, node)
  return announce('DOWN', gone)
end
"""
)


@dataclass(frozen=True, slots=True)
class ClusterScript:
    """A cluster script and the names of its arguments, in order (after the prefix)."""

    script: Script
    params: tuple[str, ...]
    variadic: bool = False  # takes more arguments after the named ones

    @property
    def name(self) -> str:
        return self.script.name

    def args(self, names: ClusterNames, /, *rest: Arg, **values: Arg) -> tuple[Arg, ...]:
        """The script's ``ARGV``: the prefix, then each parameter by name, then ``rest``."""
        if set(values) != set(self.params):
            raise TypeError(f"{self.name} takes {', '.join(self.params) or 'no arguments'}")
        if rest and not self.variadic:
            raise TypeError(f"{self.name} takes no further arguments")
        return (names.prefix, *(values[param] for param in self.params), *rest)


def _script(name: str, params: tuple[str, ...], body: str, *, variadic: bool = False) -> ClusterScript:
    binding = "".join(f"local {param} = ARGV[{n}]\n" for n, param in enumerate(params, start=2))
    if variadic:
        binding += f"local REST = {len(params) + 2}\n"
    return ClusterScript(Script(name=name, source=_PRELUDE + binding + body), params, variadic)


REGISTER = _script(
    "register",
    ("node", "fresh"),
    """
-- A new epoch for the node: whatever it does under an older one is refused from now on,
-- by the scripts and, for its messages, by every receiver (they learn the epoch here).
-- (Its run is noted by its burst and its claims, not here: see burst.)
-- fresh = '1': the first registration of a new process.  An earlier process under this id
-- that was not dropped (it crashed and was started again before the reaper came) is dropped
-- now, announced, so that every node lets its users go: the reaper never will (the id beats
-- again), and the new process knows nothing of them.
if fresh == '1' and redis.call('HEXISTS', EPOCHS, node) == 1 then
  drop_node(node, 'restart')
end
local epoch = redis.call('INCR', EPOCH)
redis.call('HSET', EPOCHS, node, epoch)
redis.call('ZADD', NODES, now_ms(), node)
return {'OK', epoch, announce('UP', {node, epoch})}
""",
)

BEAT = _script(
    "beat",
    ("node", "epoch"),
    """
if not current(node, epoch) then return {'FENCED'} end
local now = now_ms()
redis.call('ZADD', NODES, now, node)
return {'OK', now}
""",
)

CLAIM = _script(
    "claim",
    ("node", "epoch", "conn", "fold", "nick", "old", "payload"),
    """
-- A connection takes a nickname: its first (old = '') or instead of old.
if not current(node, epoch) then return {'FENCED'} end
if old ~= '' and not starts_with(redis.call('HGET', USERS, old), owner(node, conn)) then
  return {'GONE'}
end
local holder = redis.call('HGET', USERS, fold)
if holder and not starts_with(holder, owner(node, conn)) then return {'TAKEN'} end
redis.call('HSET', USERS, fold, owner(node, conn) .. nick)
redis.call('SADD', index_of(node), fold)
redis.call('HSET', RUNS, node, this_run())
if old ~= '' and old ~= fold then
  redis.call('HDEL', USERS, old)
  redis.call('SREM', index_of(node), old)
end
return {'OK', announce('NICK', {node, conn, fold, nick, old, payload})}
""",
)

RELEASE = _script(
    "release",
    ("node", "epoch", "conn", "fold", "reason"),
    """
-- A connection leaves: its nickname is free again.
if not current(node, epoch) then return {'FENCED'} end
if not starts_with(redis.call('HGET', USERS, fold), owner(node, conn)) then return {'GONE'} end
redis.call('HDEL', USERS, fold)
redis.call('SREM', index_of(node), fold)
return {'OK', announce('QUIT', {node, conn, fold, reason})}
""",
)

KILL = _script(
    "kill",
    ("node", "epoch", "fold", "killer", "reason"),
    """
-- An operator on node removes whoever holds fold, on any node.
if not current(node, epoch) then return {'FENCED'} end
local record = redis.call('HGET', USERS, fold)
if not record then return {'NO_SUCH'} end
local tab = string.find(record, '\\t', 1, true)
local victim = string.sub(record, 1, tab - 1)
local conn = string.sub(record, tab + 1, string.find(record, '\\t', tab + 1, true) - 1)
redis.call('HDEL', USERS, fold)
redis.call('SREM', index_of(victim), fold)
-- Kept a while for the victim's node, in case it misses the event (see burst).
local now, kills = now_ms(), kills_of(victim)
redis.call('ZADD', kills, now, conn .. '\\t' .. reason)
redis.call('ZREMRANGEBYSCORE', kills, '-inf', '(' .. (now - KILLS_KEPT_MS))
redis.call('PEXPIRE', kills, KILLS_KEPT_MS)  -- gone with the last, should its node never burst
return {'OK', announce('KILL', {victim, conn, fold, killer, reason}), victim, conn}
""",
)

RELEASE_ALL = _script(
    "release_all",
    ("node", "epoch", "reason"),
    """
-- A node stopping cleanly: all its users leave at once, no waiting for the reaper.
if not current(node, epoch) then return {'FENCED'} end
redis.call('DEL', kills_of(node))  -- its process ends: no burst of it will come
return {'OK', drop_node(node, reason)}
""",
)

SHARE = _script(
    "share",
    ("node", "epoch", "payload"),
    """
-- Anything else a node shares with every node, numbered with the directory's events.
if not current(node, epoch) then return {'FENCED'} end
return {'OK', announce('FACT', {node, payload})}
""",
)

REAP = _script(
    "reap",
    ("dead_after_ms", "limit"),
    """
-- Nodes silent for longer than dead_after_ms by Redis' clock are dropped with their users.
-- Any node may run it; the first finds the dead, the others find nothing.
local cutoff = now_ms() - tonumber(dead_after_ms)
local dead = redis.call('ZRANGEBYSCORE', NODES, '-inf', '(' .. cutoff, 'LIMIT', 0, tonumber(limit))
local reaped = {'OK'}
for _, node in ipairs(dead) do
  drop_node(node, 'timeout')
  reaped[#reaped + 1] = node
end
return reaped
""",
)

LEASE = _script(
    "lease",
    ("node", "epoch", "count"),
    """
-- A block of guest numbers for the node to hand out without a round trip each.
if not current(node, epoch) then return {'FENCED'} end
local last = redis.call('INCRBY', GUESTS, tonumber(count))
return {'OK', last - tonumber(count) + 1, last}
""",
)

BURST = _script(
    "burst",
    ("node", "epoch"),
    """
-- After registering: the node's complete list of users (conn, fold, nick triples).
-- Its folds are taken unless another node holds them (those conns are refused and
-- must be renamed); its entries not in the list are dropped.  An entry of a node that
-- has neither burst nor claimed in this Redis process (``RUNS``) is a leftover of an
-- older one (loaded from a stale snapshot): it yields, for this node's user holds the
-- nickname now, and its node bursts what it really holds.  Registering is not enough:
-- a node registered a moment ago, its burst still to come, holds only such leftovers.
-- A user killed while this node was not listening (kept by kill) is not taken back:
-- the kill's payload is returned after the refused conns, as one array, for the node to apply.
if not current(node, epoch) then return {'FENCED'} end
local index = index_of(node)
local run = this_run()
local mine, folds, synced, refused, killed = {}, {}, {node}, {}, {}
local kills = {}
for _, kill in ipairs(redis.call('ZRANGE', kills_of(node), 0, -1)) do
  local tab = string.find(kill, '\\t', 1, true)
  kills[string.sub(kill, 1, tab - 1)] = string.sub(kill, tab + 1)
end
redis.call('DEL', kills_of(node))
for i = REST, #ARGV - 2, 3 do
  local conn, fold, nick = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if kills[conn] then  -- killed while its node was not listening: not taken back, told below
    killed[#killed + 1] = kills[conn]
  else
    local holder = redis.call('HGET', USERS, fold)
    local other = holder and not starts_with(holder, node .. '\\t') and string.match(holder, '^[^\\t]*')
    if other and redis.call('HGET', RUNS, other) ~= run then
      redis.call('SREM', index_of(other), fold)
      other = false
    end
    if mine[fold] or other then
      refused[#refused + 1] = conn
    else
      mine[fold] = true
      folds[#folds + 1] = fold
      redis.call('HSET', USERS, fold, owner(node, conn) .. nick)
      synced[#synced + 1] = conn .. '\\t' .. fold .. '\\t' .. nick
    end
  end
end
for _, fold in ipairs(redis.call('SMEMBERS', index)) do
  if not mine[fold] and starts_with(redis.call('HGET', USERS, fold), node .. '\\t') then
    redis.call('HDEL', USERS, fold)
  end
end
redis.call('DEL', index)
for i = 1, #folds, 1000 do
  redis.call('SADD', index, unpack(folds, i, math.min(i + 999, #folds)))
end
redis.call('HSET', RUNS, node, run)  -- what it holds now is this process's: it holds against later bursts
local result = {'OK', announce('SYNC', synced)}
for _, conn in ipairs(refused) do result[#result + 1] = conn end
if #killed > 0 then result[#result + 1] = killed end
return result
""",
    variadic=True,
)

SNAPSHOT = _script(
    "snapshot",
    (),
    """
-- The directory (users, then nodes with their epochs) and the number of the last event
-- it includes, read at one instant.
local seq = tonumber(redis.call('GET', SEQ) or 0)
return {'OK', seq, redis.call('HGETALL', USERS), redis.call('HGETALL', EPOCHS)}
""",
)

#: Every script, for the link to load on each new command connection.
SCRIPTS = (REGISTER, BEAT, CLAIM, RELEASE, KILL, SHARE, RELEASE_ALL, REAP, LEASE, BURST, SNAPSHOT)
