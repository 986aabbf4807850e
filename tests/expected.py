"""Protocol lines the tests expect word for word, written once (docs/protocol.md)."""

from __future__ import annotations

WELCOME = "[server] Welcome to the chat, {}! Type HELP for the list of commands."

HELP = [
    "[server] Commands (case-insensitive):",
    "[server]   MSG <text>                send <text> to everyone else",
    "[server]   NICK <nickname>           change your nickname",
    "[server]   WHO                       list connected users",
    "[server]   QUIT [<text>]             leave, with an optional last message",
    "[server]   OPER <password>           become an operator",
    "[server]   KILL <nickname> [<text>]  disconnect a user (operators only)",
    "[server]   PING [<token>]            the server answers PONG <token>",
    "[server]   HELP                      this list",
]
