"""Platform services: each owns one concern, takes an ``Actor`` and authorizes it."""
