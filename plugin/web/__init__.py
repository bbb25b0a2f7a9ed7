"""The local search page: app, security, the page itself and the offline contact sheet."""
