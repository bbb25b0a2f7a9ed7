"""Apple Photos exports: keywords in sidecars, and a script that applies them in Photos."""
