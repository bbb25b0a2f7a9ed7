"""``photoplug watch``: follow locations' files and keep the index, smart albums and
keywords up to date as photos arrive, change, move and leave.

``follow.py`` turns the OS's file events (watchdog: inotify, FSEvents...) or a periodic
poll into settled batches; ``loop.py`` runs each batch through index, albums, tags and
the host write (deferred while the host holds its database); ``lock.py`` keeps one
watcher per index and records when it last caught up; ``service.py`` writes the systemd
user unit and the launchd agent that start it at login.
"""
