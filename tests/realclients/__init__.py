"""Real IRC clients (irssi, WeeChat) driven under tmux against IRC servers."""
