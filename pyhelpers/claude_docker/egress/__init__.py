"""Egress control: a session reaches only the hosts the user allows, through a proxy on the host side
(allowlist, destination, httphead, relay, proxy) that a forwarder sidecar owning the session's network
namespace reaches (forwarder, sidecar); every decision is an event, read back by eventlog."""
