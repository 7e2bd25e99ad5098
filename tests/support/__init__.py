"""Peers that misbehave on purpose, for tests that need a network fault on a real socket.

This kernel has no ``tc netem``, iptables or nft, so loss and delay are made in user space:

- ``faultproxy``: a UDP or TCP proxy on loopback that drops and delays, seeded.
- ``blackhole``: a TCP listener that accepts and never speaks; a UDP port that swallows all.
- ``netns``: a host in a network namespace the test creates, reachable on a 127/8 address over
  a veth pair, that can be made to answer nothing at all (not even ICMP or a TCP reset).
- ``nginx``: a real nginx on free loopback ports serving HTTP and HTTPS with a fresh certificate.
"""
