"""Protocol lines the tests expect word for word, written once (docs/protocol.md)."""

from __future__ import annotations

WELCOME = "[server] Welcome to the chat, {}! Type HELP for the list of commands."

HELP = [
    "[server] Commands (case-insensitive):",
    "[server]   MSG <text>                  send <text> to the others in your room",
    "[server]   ME <text>                   an action, seen as: * <nickname> <text>",
    "[server]   TELL <nickname> <text>      send <text> to <nickname> alone",
    "[server]   JOIN <room>                 leave your room for <room> (created if new)",
    "[server]   WHO [<room>]                list the users in your room, or in <room>",
    "[server]   ROOMS                       list the rooms and how many are in each",
    "[server]   TOPIC [<text>]              show your room's topic, or set it (room operators)",
    "[server]   KICK <nickname> [<reason>]  put a user out of your room (room operators)",
    "[server]   NICK <nickname>             change your nickname",
    "[server]   QUIT [<text>]               leave, with an optional last message",
    "[server]   OPER <password>             become an operator",
    "[server]   KILL <nickname> [<text>]    disconnect a user (operators only)",
    "[server]   MODE [+w|-w]                show your modes, or hear (+w) operators' WALLOPS or not",
    "[server]   MODE [+B|-B]                say you are a bot (+B) or not: WHO marks you (bot)",
    "[server]   MODE <room>                 show the modes of <room> (MODE <room> +b: its bans)",
    "[server]   MODE <room> [+|-]<letters> [<arguments>]",
    "[server]                               change the modes of <room> (room operators),",
    "[server]                               e.g. MODE #games +o-v bob carol; the letters:",
    "[server]                               o <nickname> operator, v <nickname> voice,",
    "[server]                               t topic locked, m moderated, i invite only,",
    "[server]                               k <key> key, l <count> limit, b <mask> ban,",
    "[server]                               n no words from outside, s secret",
    "[server]   INVITE <nickname> [<room>]  invite a user to your room, or to <room>",
    "[server]   AWAY [<text>]               be away, saying <text>; without text: back",
    "[server]   WALLOPS <text>              send <text> to everyone with mode +w (operators only)",
    "[server]   PING [<token>]              the server answers PONG <token>",
    "[server]   HELP                        this list",
]
