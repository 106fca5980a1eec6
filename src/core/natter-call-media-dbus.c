/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call-media-dbus"

#include "config.h"

#include "natter-call-media-dbus.h"

/* Methods: what NatterCall asks of its pipeline. Signals: what the
 * pipeline tells back. VideoFrame carries one decoded frame (the peer's,
 * or the camera's own for the self view) as a sealed memfd, so a frame
 * costs the app one mmap and no copy, and the app maps no codec. */
static const char interface_xml[] =
  "<node>"
  " <interface name='" NATTER_CALL_MEDIA_DBUS_INTERFACE "'>"
  "  <method name='Create'><arg direction='in' type='b' name='with_video'/></method>"
  "  <method name='SetIceServers'>"
  "   <arg direction='in' type='a(asss)' name='servers'/>"
  "  </method>"
  "  <method name='SetDevices'>"
  "   <arg direction='in' type='s' name='microphone'/>"
  "   <arg direction='in' type='s' name='camera'/>"
  "   <arg direction='in' type='s' name='speaker'/>"
  "  </method>"
  "  <method name='SetMuted'><arg direction='in' type='b' name='muted'/></method>"
  "  <method name='SetCameraEnabled'><arg direction='in' type='b' name='enabled'/></method>"
  "  <method name='StartOffer'/>"
  "  <method name='SetRemoteDescription'>"
  "   <arg direction='in' type='s' name='type'/>"
  "   <arg direction='in' type='s' name='sdp'/>"
  "  </method>"
  "  <method name='AddRemoteCandidate'>"
  "   <arg direction='in' type='u' name='mline'/>"
  "   <arg direction='in' type='s' name='candidate'/>"
  "  </method>"
  "  <method name='UpdateStats'/>"
  "  <method name='Close'/>"
  "  <signal name='State'>"
  "   <arg type='u' name='state'/>"
  "   <arg type='s' name='error'/>"
  "   <arg type='b' name='unrecoverable'/>"
  "  </signal>"
  "  <signal name='CameraEnabled'><arg type='b' name='enabled'/></signal>"
  "  <signal name='LocalDescription'>"
  "   <arg type='s' name='type'/>"
  "   <arg type='s' name='sdp'/>"
  "  </signal>"
  "  <signal name='LocalCandidate'>"
  "   <arg type='u' name='mline'/>"
  "   <arg type='s' name='candidate'/>"
  "   <arg type='b' name='end'/>"
  "  </signal>"
  "  <signal name='Stats'>"
  "   <arg type='(dddtttttttttt)' name='stats'/>"
  "  </signal>"
  "  <signal name='Adaptation'>"
  "   <arg type='u' name='bandwidth_estimate'/>"
  "   <arg type='b' name='bandwidth_limited'/>"
  "   <arg type='b' name='video_reduced'/>"
  "  </signal>"
  "  <signal name='FirstRemoteMedia'><arg type='s' name='kind'/></signal>"
  "  <signal name='VideoFrame'>"
  "   <arg type='b' name='local'/>"
  "   <arg type='u' name='width'/>"
  "   <arg type='u' name='height'/>"
  "   <arg type='u' name='stride'/>"
  "   <arg type='h' name='pixels'/>"
  "  </signal>"
  " </interface>"
  "</node>";

/**
 * natter_call_media_dbus_get_interface_info:
 *
 * Returns: (transfer none): org.natter.CallMedia1
 */
GDBusInterfaceInfo *
natter_call_media_dbus_get_interface_info (void)
{
  static GDBusInterfaceInfo *info = NULL;

  if (g_once_init_enter (&info)) {
    g_autoptr (GError) error = NULL;
    GDBusNodeInfo *node = g_dbus_node_info_new_for_xml (interface_xml, &error);

    g_assert_no_error (error);
    g_once_init_leave (&info, g_dbus_interface_info_ref (node->interfaces[0]));
    g_dbus_node_info_unref (node);
  }
  return info;
}
