#!/bin/sh
# Run once as root in the new root filesystem by both Debian recipes: what makes it a session image.
set -eu
# Sessions run with no-new-privileges, so set-id bits only give an agent something to probe.
find / -xdev -type f -perm /6000 -exec chmod ug-s {} +
# The apt sources stay (a derived Dockerfile installs more from them), but never a credential.
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*; do
  if [ -f "$f" ]; then sed -i -E 's#(://)[^/[:space:]]*@#\1#g' "$f"; fi
done
rm -f /etc/apt/auth.conf /etc/apt/auth.conf.d/*
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb /var/log/apt /var/log/dpkg.log
# Sessions run as the host user's uid with their own HOME; this one is for `docker run` by hand.
chmod 1777 /home
