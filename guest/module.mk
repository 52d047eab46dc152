# guest/: burrow-init, burrow-agent (static, musl) and the default image.
