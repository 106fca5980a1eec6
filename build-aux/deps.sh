#!/usr/bin/env bash
# Installs the Debian 12 packages Natter needs to build, run and test.
# Sourced by run.sh and test.sh; apt-get runs only when something is missing.

NATTER_PACKAGES=(
  # build
  meson ninja-build pkg-config gcc clang libclang-rt-14-dev clang-format
  gettext desktop-file-utils appstream libglib2.0-bin
  # libraries
  libglib2.0-dev libjson-glib-dev libsoup-3.0-dev libsqlite3-dev libargon2-dev
  libwslay-dev  # server: WebSocket framing on its own epoll loop (issue 16)
  zlib1g-dev  # tests: a compressed WebSocket frame (test-server-hardening)
  libsecret-1-dev libgtk-4-dev libadwaita-1-dev
  libgdk-pixbuf-2.0-dev  # core: an image's size measured before it is sent
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  libopus-dev  # calls: Opus packets' in-band FEC flags (concealed audio, issue 14)
  # server on several nodes (issue 17): PostgreSQL storage and the Redis bus;
  # optional at build time (meson -Dlibpq / -Dhiredis)
  libpq-dev libhiredis-dev
  # run time: media
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-nice gstreamer1.0-tools
  # bench: a voice for the microphones of natter-bench calls --link (Opus
  # codes in-band FEC only for speech)
  espeak-ng
  # calls: ringtones (the freedesktop theme sounds)
  sound-theme-freedesktop
  # tests: a display, a session bus, a notification daemon stand-in, screenshots
  xvfb xauth dbus dbus-x11 python3-dbusmock imagemagick sqlite3 openssl
  # tests: the real PostgreSQL 15 and redis-server the multi-node tests start
  # on loopback ports (tests/harness/natter-test-services.c); installing them
  # also starts Debian's own instances, which the tests do not use
  postgresql-15 redis-server
  # tests: deploy/nginx-natter.conf in front of two nodes (check-deploy-nginx.py);
  # Debian's own nginx instance is not used
  nginx
  # tests: the leak check of the core and server tests (build-aux/test.sh)
  valgrind
  # translations: run the app in de_DE.UTF-8 / am_ET.UTF-8 (locale-gen them),
  # and a font with Ethiopic script for the Amharic UI
  locales fonts-sil-abyssinica
  # app: emoji in messages and the emoji chooser
  fonts-noto-color-emoji
  # tests: the browser interoperability test (tests/interop)
  chromium
)

natter_install_deps ()
{
  local missing=()
  local pkg
  for pkg in "${NATTER_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "Missing packages: ${missing[*]} (run as root to install them)" >&2
      return 1
    fi
    echo "Installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2 || return 1
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 || return 1
  fi
  natter_generate_locales
}

# The translated UI is tested in German and Amharic; gettext ignores
# LANGUAGE unless the locale itself exists.
natter_generate_locales ()
{
  local wanted=(de_DE.UTF-8 am_ET.UTF-8)
  local name generate=0
  for name in "${wanted[@]}"; do
    if ! locale -a 2>/dev/null | grep -qix "${name%.UTF-8}.utf8"; then
      generate=1
    fi
  done
  if [ "$generate" -eq 0 ] || [ "$(id -u)" -ne 0 ]; then
    return 0
  fi
  for name in "${wanted[@]}"; do
    grep -q "^$name UTF-8" /etc/locale.gen 2>/dev/null || echo "$name UTF-8" >>/etc/locale.gen
  done
  locale-gen >&2
}
